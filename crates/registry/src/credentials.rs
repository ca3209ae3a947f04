//! Docker's credentials: `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`)
//! with `auths` (base64 `user:password`), `credsStore` and `credHelpers` naming
//! `docker-credential-*` helpers. `login` writes the same file (mode 0600, other keys kept)
//! or hands the secret to the configured helper.
//!
//! Secrets are never printed: `Credential`'s `Debug` hides the password.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::RegistryError;

/// Docker Hub's key in `auths`.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credential {{ username: {:?}, password: <hidden> }}",
            self.username
        )
    }
}

/// The Docker config file and what it says about credentials.
#[derive(Debug)]
pub struct CredentialStore {
    path: PathBuf,
    document: Map<String, Value>,
}

impl CredentialStore {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; a missing file is empty.
    pub fn open_default() -> Result<CredentialStore, RegistryError> {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".docker"),
        };
        CredentialStore::open(&dir.join("config.json"))
    }

    pub fn open(path: &Path) -> Result<CredentialStore, RegistryError> {
        let document = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(bad(path, "not a JSON object")),
                Err(e) => return Err(bad(path, &e.to_string())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(bad(path, &format!("cannot read: {e}"))),
        };
        Ok(CredentialStore {
            path: path.to_path_buf(),
            document,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential for `registry` (a reference's domain), if any is configured.
    pub fn get(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        if let Some(helper) = self.helper_for(registry) {
            return helper_get(&helper, &server_key(registry));
        }
        let Some(entry) = self.auth_entry(registry) else {
            return Ok(None);
        };
        if let Some(encoded) = entry.get("auth").and_then(Value::as_str) {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    bad(
                        &self.path,
                        &format!("auths.{registry}.auth is not base64 user:password"),
                    )
                })?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad(&self.path, &format!("auths.{registry}.auth has no ':'")))?;
            return Ok(Some(Credential {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        let field = |k: &str| entry.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(match (field("username"), field("password")) {
            (Some(username), Some(password)) => Some(Credential { username, password }),
            _ => None,
        })
    }

    /// Records `credential` for `registry`: through its helper, else in `auths`.
    pub fn store(&mut self, registry: &str, credential: &Credential) -> Result<(), RegistryError> {
        let key = server_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            let input = json!({"ServerURL": key, "Username": credential.username, "Secret": credential.password});
            return helper_call(&helper, "store", &input.to_string()).map(drop);
        }
        let auth = STANDARD.encode(format!("{}:{}", credential.username, credential.password));
        self.auths_mut().insert(key, json!({ "auth": auth }));
        self.save()
    }

    /// Forgets the credential for `registry`; false when there was none.
    pub fn erase(&mut self, registry: &str) -> Result<bool, RegistryError> {
        let key = server_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            return helper_call(&helper, "erase", &key).map(|_| true);
        }
        let keys: Vec<String> = self
            .auths_mut()
            .keys()
            .filter(|k| normalize_key(k) == normalize_key(&key))
            .cloned()
            .collect();
        for k in &keys {
            self.auths_mut().remove(k);
        }
        if !keys.is_empty() {
            self.save()?;
        }
        Ok(!keys.is_empty())
    }

    fn helper_for(&self, registry: &str) -> Option<String> {
        let helpers = self.document.get("credHelpers").and_then(Value::as_object);
        let specific = helpers.and_then(|h| {
            h.iter()
                .find(|(k, _)| normalize_key(k) == normalize_key(&server_key(registry)))
                .and_then(|(_, v)| v.as_str())
        });
        specific
            .or_else(|| self.document.get("credsStore").and_then(Value::as_str))
            .filter(|name| !name.is_empty())
            .map(str::to_string)
    }

    fn auth_entry(&self, registry: &str) -> Option<&Map<String, Value>> {
        let wanted = normalize_key(&server_key(registry));
        self.document
            .get("auths")?
            .as_object()?
            .iter()
            .find(|(k, _)| normalize_key(k) == wanted)?
            .1
            .as_object()
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let auths = self
            .document
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        match auths {
            Value::Object(map) => map,
            _ => unreachable!("auths was just made an object"),
        }
    }

    /// Writes the file atomically, readable by its owner only.
    fn save(&self) -> Result<(), RegistryError> {
        use std::os::unix::fs::OpenOptionsExt;
        let fail = |e: std::io::Error| bad(&self.path, &format!("cannot write: {e}"));
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let temp = self
            .path
            .with_extension(format!("json.tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(&self.document)
            .map_err(|e| bad(&self.path, &e.to_string()))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(fail)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
        std::fs::rename(&temp, &self.path).map_err(fail)
    }
}

fn bad(path: &Path, message: &str) -> RegistryError {
    RegistryError::Credentials {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The key Docker files a registry's credentials under.
fn server_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        other => other.to_string(),
    }
}

/// A key without scheme or path, so `https://host/v1/` and `host` match.
fn normalize_key(key: &str) -> String {
    let bare = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "index.docker.io" | "docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>, RegistryError> {
    let output = match helper_call(helper, "get", server) {
        Ok(output) => output,
        Err(RegistryError::CredentialHelper { message, .. })
            if message.contains("credentials not found") =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let value: Value =
        serde_json::from_str(&output).map_err(|e| RegistryError::CredentialHelper {
            helper: helper.to_string(),
            message: format!("unreadable answer to get: {e}"),
        })?;
    let field = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(Some(Credential {
        username: field("Username"),
        password: field("Secret"),
    }))
}

/// Runs `docker-credential-HELPER ACTION` with `input` on stdin; returns its stdout.
fn helper_call(helper: &str, action: &str, input: &str) -> Result<String, RegistryError> {
    let fail = |message: String| RegistryError::CredentialHelper {
        helper: helper.to_string(),
        message,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("cannot run: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        // Helpers report "credentials not found in native keychain" on stdout.
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!(
            "{action} failed: {} {}",
            stdout,
            stderr.trim()
        )));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths_in_any_key_form_and_writes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = STANDARD.encode("me:s3cret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{auth}"}}}},"other":1}}"#
            ),
        )
        .unwrap();
        let mut store = CredentialStore::open(&path).unwrap();
        let found = store.get("reg.example:5000").unwrap().unwrap();
        assert_eq!(found.username, "me");
        assert_eq!(found.password, "s3cret");
        assert!(!format!("{found:?}").contains("s3cret"));
        store
            .store(
                "docker.io",
                &Credential {
                    username: "u".into(),
                    password: "p".into(),
                },
            )
            .unwrap();
        let reread = CredentialStore::open(&path).unwrap();
        assert_eq!(reread.get("docker.io").unwrap().unwrap().username, "u");
        assert_eq!(reread.document.get("other"), Some(&json!(1)));
        let mut reread = reread;
        assert!(reread.erase("reg.example:5000").unwrap());
        assert!(reread.get("reg.example:5000").unwrap().is_none());
    }

    #[test]
    fn broken_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{nope").unwrap();
        let error = CredentialStore::open(&path).unwrap_err().to_string();
        assert!(error.contains("config.json"), "{error}");
    }
}

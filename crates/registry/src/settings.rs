//! Transport settings: which registries are insecure (plain HTTP / unverified TLS allowed),
//! their mirrors (tried in order before the registry itself), and the TLS roots a client
//! trusts (built-in roots, the system bundle, `SSL_CERT_FILE`, and Docker's per-registry
//! `/etc/docker/certs.d/HOST/ca.crt`).
//!
//! The settings file is `$RBUILD_ROOT/config.toml`, else `~/.config/rbuild/config.toml`,
//! in a small TOML subset:
//!
//! ```toml
//! [registry."docker.io"]
//! mirrors = ["mirror.internal:5000"]
//! insecure = false
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::Certificate;

use crate::error::RegistryError;

const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const DOCKER_CERTS_DIR: &str = "/etc/docker/certs.d";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// What one registry is configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryEntry {
    pub mirrors: Vec<String>,
    pub insecure: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrySettings {
    pub registries: BTreeMap<String, RegistryEntry>,
}

impl RegistrySettings {
    /// The settings file for a store at `root`: `root/config.toml` when it exists, else the
    /// user's; no file means no settings.
    pub fn load(root: &Path) -> Result<RegistrySettings, RegistryError> {
        let mut candidates = vec![root.join("config.toml")];
        if let Some(home) = std::env::var_os("HOME") {
            candidates.push(PathBuf::from(home).join(".config/rbuild/config.toml"));
        }
        for path in candidates {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return RegistrySettings::parse(&path, &text);
            }
        }
        Ok(RegistrySettings::default())
    }

    pub fn parse(path: &Path, text: &str) -> Result<RegistrySettings, RegistryError> {
        let mut settings = RegistrySettings::default();
        let mut current: Option<String> = None;
        for (n, raw) in text.lines().enumerate() {
            let fail = |message: String| RegistryError::Settings {
                path: path.to_path_buf(),
                line: n + 1,
                message,
            };
            let line = raw.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                let header = header
                    .strip_suffix(']')
                    .ok_or_else(|| fail(format!("unclosed table header {line:?}")))?;
                let name = header.strip_prefix("registry.").ok_or_else(|| {
                    fail(format!(
                        "unknown table {header:?} (expected [registry.\"HOST\"])"
                    ))
                })?;
                let name = name.trim_matches('"').to_string();
                settings.registries.entry(name.clone()).or_default();
                current = Some(name);
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| fail(format!("expected key = value, found {line:?}")))?;
            let name = current
                .as_ref()
                .ok_or_else(|| fail("a key outside any [registry.\"HOST\"] table".to_string()))?;
            let entry = settings.registries.entry(name.clone()).or_default();
            match key.trim() {
                "mirrors" => entry.mirrors = parse_string_list(value.trim()).map_err(&fail)?,
                "insecure" => {
                    entry.insecure = match value.trim() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(fail(format!(
                                "insecure must be true or false, not {other}"
                            )))
                        }
                    }
                }
                other => {
                    return Err(fail(format!(
                        "unknown key {other:?} (expected mirrors or insecure)"
                    )))
                }
            }
        }
        Ok(settings)
    }

    pub fn entry(&self, registry: &str) -> RegistryEntry {
        self.registries.get(registry).cloned().unwrap_or_default()
    }

    /// A client for `host` with the TLS roots it should trust.
    pub fn http_client(&self, registry: &str, host: &str) -> Result<Client, RegistryError> {
        let tls = |message: String| RegistryError::Tls {
            registry: registry.to_string(),
            message,
        };
        let mut builder = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(READ_TIMEOUT)
            .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")));
        let mut bundles: Vec<PathBuf> = vec![PathBuf::from(SYSTEM_BUNDLE)];
        if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
            bundles.push(PathBuf::from(file));
        }
        bundles.push(Path::new(DOCKER_CERTS_DIR).join(host).join("ca.crt"));
        for bundle in bundles {
            let Ok(pem) = std::fs::read(&bundle) else {
                continue;
            };
            let certificates = Certificate::from_pem_bundle(&pem)
                .map_err(|e| tls(format!("cannot read {}: {e}", bundle.display())))?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if self.entry(registry).insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder.build().map_err(|e| tls(e.to_string()))
    }

    /// Whether plain HTTP may be used for `host`: loopback, or configured insecure.
    pub fn allows_plain_http(&self, registry: &str, host: &str) -> bool {
        is_loopback(host) || self.entry(registry).insecure
    }
}

fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn parse_string_list(value: &str) -> Result<Vec<String>, String> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| format!("expected a list [\"...\"], found {value}"))?;
    let mut items = Vec::new();
    for item in inner.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let text = item
            .strip_prefix('"')
            .and_then(|i| i.strip_suffix('"'))
            .ok_or_else(|| format!("expected a quoted string, found {item}"))?;
        items.push(text.to_string());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mirrors_and_insecure() {
        let text = "# mirrors\n[registry.\"docker.io\"]\nmirrors = [\"a:5000\", \"https://b\"]\n\n[registry.\"reg.local:5000\"]\ninsecure = true\n";
        let settings = RegistrySettings::parse(Path::new("c.toml"), text).unwrap();
        assert_eq!(settings.entry("docker.io").mirrors, ["a:5000", "https://b"]);
        assert!(settings.entry("reg.local:5000").insecure);
        assert!(!settings.entry("other").insecure);
    }

    #[test]
    fn errors_name_the_line() {
        let error = RegistrySettings::parse(Path::new("c.toml"), "[registry.x]\nmirors = []\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("c.toml:2: unknown key"), "{error}");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
    }
}

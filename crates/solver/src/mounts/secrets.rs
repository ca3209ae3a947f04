//! Where a build's secrets and SSH agents come from (`--secret`, `--ssh`): ids mapped to a
//! file or an environment variable, and to agent sockets. Secret values are read only when
//! a step mounts them, never kept longer than that step, and never printed.
//!
//! Parsing the command-line syntax is the CLI's business; this module only resolves ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::MountError;

/// Where one secret's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// The contents of a file.
    File(PathBuf),
    /// The value of an environment variable of the rbuild process.
    Env(String),
}

/// The secrets a build was given, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    sources: BTreeMap<String, SecretSource>,
}

impl Secrets {
    /// Provides secret `id` (a later call for the same id wins, as with buildx).
    pub fn insert(&mut self, id: &str, source: SecretSource) {
        self.sources.insert(id.to_string(), source);
    }

    /// The secret's value; `None` when the build was not given `id`.
    pub(crate) fn read(&self, id: &str) -> Result<Option<Vec<u8>>, MountError> {
        match self.sources.get(id) {
            None => Ok(None),
            Some(SecretSource::File(path)) => {
                std::fs::read(path)
                    .map(Some)
                    .map_err(|source| MountError::UnreadableSecret {
                        id: id.to_string(),
                        path: path.clone(),
                        source,
                    })
            }
            Some(SecretSource::Env(variable)) => std::env::var_os(variable)
                .map(|value| Some(value.into_encoded_bytes()))
                .ok_or_else(|| MountError::UnsetSecretVariable {
                    id: id.to_string(),
                    variable: variable.clone(),
                }),
        }
    }
}

/// The SSH agent sockets a build may forward, by id (`default` for `--ssh default`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshAgents {
    sockets: BTreeMap<String, PathBuf>,
}

impl SshAgents {
    pub fn insert(&mut self, id: &str, socket: PathBuf) {
        self.sockets.insert(id.to_string(), socket);
    }

    pub(crate) fn socket(&self, id: &str) -> Option<&Path> {
        self.sockets.get(id).map(PathBuf::as_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_and_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file").unwrap();
        let variable = format!("RBUILD_TEST_SECRET_{}", std::process::id());
        std::env::set_var(&variable, "from-env");
        let mut secrets = Secrets::default();
        secrets.insert("file", SecretSource::File(file));
        secrets.insert("env", SecretSource::Env(variable));
        secrets.insert(
            "unset",
            SecretSource::Env("RBUILD_TEST_NO_SUCH_VARIABLE".into()),
        );
        assert_eq!(secrets.read("file").unwrap(), Some(b"from-file".to_vec()));
        assert_eq!(secrets.read("env").unwrap(), Some(b"from-env".to_vec()));
        assert_eq!(secrets.read("other").unwrap(), None);
        let err = secrets.read("unset").unwrap_err().to_string();
        assert!(err.contains("RBUILD_TEST_NO_SUCH_VARIABLE"), "{err}");
    }
}

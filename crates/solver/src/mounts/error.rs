//! `MountError`: why a `RUN --mount` could not be provided — a secret or SSH agent the
//! build was not given, a secret that cannot be read, a cache or agent socket that cannot
//! be set up. The solver attaches the step (and so the Dockerfile line) to it.
//!
//! Messages name the id and the flag that would provide it, never a secret's value.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(
        "secret {id:?} is required but was not provided \
         (pass --secret id={id},src=FILE or --secret id={id},env=VARIABLE)"
    )]
    MissingSecret { id: String },

    #[error("secret {id:?}: cannot read {path}: {source}")]
    UnreadableSecret {
        id: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("secret {id:?}: environment variable {variable} is not set")]
    UnsetSecretVariable { id: String, variable: String },

    #[error("secret {id:?} is exposed as environment variable {variable:?}, but it is not text")]
    BinarySecretInEnv { id: String, variable: String },

    #[error(
        "ssh agent {id:?} is required but was not provided (pass --ssh {id} with \
         SSH_AUTH_SOCK set, or --ssh {id}=SOCKET)"
    )]
    MissingSsh { id: String },

    #[error("ssh agent {id:?}: cannot forward {socket}: {source}")]
    SshForward {
        id: String,
        socket: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "bind mount at {target}: a URL or git repository cannot be mounted, only ADD fetches them"
    )]
    RemoteBindSource { target: String },

    #[error("cache mount {id:?}: preparing {path}: {source}")]
    CacheDir {
        id: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

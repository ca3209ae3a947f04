//! The OCI distribution client: pulling images into the store (verified while streaming,
//! layers kept compressed), pushing images from it (existing blobs skipped, blobs of a
//! sibling repository mounted, an index after its manifests), the token and basic auth
//! flows, Docker's credential files and helpers, and the transport settings (TLS roots,
//! insecure registries, mirrors).
//!
//! It speaks HTTP with reqwest's blocking client and must therefore never be called from
//! inside a tokio runtime. It knows nothing of builds or Dockerfiles: what to push is
//! described by the caller as documents and blob descriptors already in the store.

#![forbid(unsafe_code)]

mod challenge;
mod client;
pub mod credentials;
mod error;
mod parallel;
mod pull;
mod push;
mod settings;

pub use challenge::{parse_challenges, Challenge};
pub use client::{RegistryClient, Scope};
pub use credentials::{Credential, CredentialStore};
pub use error::RegistryError;
pub use pull::{pull_artifact, pull_image, PullSummary};
pub use push::{push_image, PushManifest, PushSummary, PushTarget};
pub use settings::RegistrySettings;

//! The OCI vocabulary shared by every rbuild crate: content digests, platforms, image
//! references (normalized as Docker does) and the image configuration document.
//!
//! This crate holds plain value types and their parsing only. It does no I/O, knows nothing
//! of Dockerfiles, stores or sandboxes, and re-exports `oci_spec` so that every crate uses the
//! same descriptor, manifest and index types.

#![forbid(unsafe_code)]

mod cause_chain;
mod config;
mod descriptor;
mod digest;
mod index;
pub mod media_types;
mod platform;
mod reference;

pub use cause_chain::cause_chain;
pub use config::{EmptyObject, HealthConfig, History, ImageConfig, RootFs, RuntimeConfig};
pub use descriptor::{descriptor, descriptor_digest};
pub use digest::{Digest, DigestError, DigestingWriter};
pub use index::{index_platforms, platform_index, IndexError};
pub use oci_spec;
pub use platform::{Platform, PlatformError};
pub use reference::{ImageReference, ReferenceError};

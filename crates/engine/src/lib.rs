//! The build as a library. A `BuildRequest` says what to build (context, Dockerfile,
//! platforms, build args) and where results go (names, outputs, caches); `Build::run`
//! performs the whole pipeline — lease, lower per platform into one graph, import caches,
//! solve, explain and record, assemble, commit, export, export caches, collect garbage —
//! and reports what happens through `BuildEvents` and the solver's progress events.
//!
//! The command line, a daemon socket or a remote executor are front doors onto this crate:
//! none of them lives here. Nothing here parses flags or prints.

#![forbid(unsafe_code)]

mod base_images;
mod build;
mod cache_transfer;
mod error;
mod events;
mod outputs;
mod platforms;
mod registry_cache;
mod registry_transfer;
mod request;
mod run_network;

pub use build::{Build, BuildResult, PlatformImage};
pub use error::EngineError;
pub use events::{BuildEvents, IgnoreEvents, Notice};
pub use platforms::first_platform_definition;
pub use rbuild_registry::{PullSummary, PushSummary};
pub use rbuild_solver::cache_io::CacheMode;
pub use rbuild_solver::Export;
pub use registry_transfer::{pull, push};
pub use request::{BuildRequest, CacheFrom, CacheTo, Dockerfile};

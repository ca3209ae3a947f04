//! rbuild's Dockerfile frontend: parse the Dockerfile, expand ARG/ENV, resolve stages and
//! lower them to a `BuildGraph` plus the target image's config.
//!
//! It never runs anything and never reads the build context (beyond `.dockerignore`): the
//! solver decides what to execute and hashes the files the graph reads.

#![forbid(unsafe_code)]

pub mod ast;
pub mod diagnostic;
mod dockerignore;
pub mod dump;
mod error;
mod instructions;
mod lower;
pub mod parser;
pub mod shell;
mod source_text;

pub use diagnostic::{did_you_mean, Diagnostic};
pub use dockerignore::read_dockerignore;
pub use error::FrontendError;
pub use lower::{
    build_definition, git_context, graph_dot, BuildOptions, GitContextError, ImageResolver,
    ResolveError, ResolvedImage,
};
pub use parser::{parse, ParseError};
pub use source_text::{decode_dockerfile, NonUtf8Line};

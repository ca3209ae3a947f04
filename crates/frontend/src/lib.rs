//! rbuild's Dockerfile frontend: parse the Dockerfile, expand ARG/ENV, resolve stages and
//! lower them to a `BuildGraph` plus the target image's config.
//!
//! It never runs anything and never reads the build context (beyond `.dockerignore`): the
//! solver decides what to execute and hashes the files the graph reads.

pub mod ast;
pub mod shell;

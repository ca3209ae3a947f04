//! Shared by the exec crate's harness-less test and bench binaries: a tiny test runner
//! (names, results, skips with reasons, non-zero exit on failure) and the busybox root
//! filesystem unpacked from the OCI layout in /work/shared/images, and a container built
//! on it.

#![allow(dead_code)] // Each binary uses a different part.

pub mod busybox;
pub mod container;
pub mod runner;

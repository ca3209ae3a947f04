//! File operations with Docker's semantics, independent of how the filesystems they work on
//! are mounted: path patterns (.dockerignore rules), COPY source selection, copying onto a
//! root filesystem, scoped path resolution, and content digests of selected file sets.
//!
//! Nothing here mounts, forks or touches the store: callers hand in directories.

pub mod memo;

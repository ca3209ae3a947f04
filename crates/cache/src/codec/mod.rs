//! The layer codec: overlay-form directory ⇄ deterministic OCI layer tar ⇄ compressed blob.
//!
//! Pure transformations between a directory and a byte stream; where those directories and
//! streams live (staging, snapshots, blobs) and what their digests are recorded as is the
//! layer store's concern.

mod compression;
mod parallel_gzip;
mod scoped_dir;
mod tar_check;
mod tar_header;
mod tar_read;
mod tar_walk;
mod tar_write;
mod whiteout;

pub(crate) use compression::decompressed;
pub use compression::Compression;
pub(crate) use tar_check::check_layer_tar;
pub(crate) use tar_read::extract_layer_tar;
pub(crate) use tar_write::{write_snapshot_tar, write_tree_tar};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz_tests;

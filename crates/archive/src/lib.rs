//! Images in and out of rbuild as files: OCI image layouts (directories or tars) and
//! docker archives (`docker save` tarballs), read and written.
//!
//! Reading (`open`) detects the kind of archive, indexes a tar once and reads blobs in
//! place, verifying every blob against its digest. Writing (`write_oci_archive`,
//! `write_oci_dir`, `write_docker_archive`) is atomic and deterministic.
//!
//! This crate does not know the store: readers hand out blobs by digest, writers pull
//! blobs from a `BlobSource` the caller implements. It does not pull or push images.

#![forbid(unsafe_code)]

mod compression;
mod container;
mod docker_reader;
mod documents;
mod entry_name;
mod error;
mod image;
mod image_archive;
mod names;
mod oci_reader;
mod tar_index;
mod verify;
mod write;

pub use error::ArchiveError;
pub use image::{ArchivedImage, ArchivedLayer, SelectedImage};
pub use image_archive::{open, ImageArchive};
pub use write::{
    sweep_dead_siblings, write_docker_archive, write_oci_archive, write_oci_dir, BlobSource,
    ExportImage, OciArchive, StagedDir, StreamedLayer,
};

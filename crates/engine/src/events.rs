//! What a build tells its front door besides step progress: caches imported and exported,
//! the `--explain` verdicts, outputs written, names given, the cleanup afterwards, and
//! warnings that do not fail the build. Wording and printing them is the front door's job.

use std::path::Path;

use rbuild_cache::PruneReport;
use rbuild_oci::{Digest, ImageReference, Platform};
use rbuild_solver::cache_io::{ExportSummary, ImportSummary};
use rbuild_solver::explain::BuildExplanation;

/// One thing worth telling the user.
#[derive(Debug)]
pub enum Notice<'a> {
    /// A `--cache-from` source was imported (`summary.skipped` lists what was left out).
    CacheImported {
        source: &'a Path,
        summary: &'a ImportSummary,
    },
    /// A `--cache-to` destination was written.
    CacheExported {
        dest: &'a Path,
        summary: &'a ExportSummary,
    },
    /// The result was pushed to a registry.
    Pushed {
        destination: &'a ImageReference,
        summary: &'a rbuild_registry::PushSummary,
    },
    /// Why each step ran or where its cached result came from.
    Explanation(&'a BuildExplanation),
    /// Writing an output starts (it may take a while: layers are compressed here).
    Exporting { dest: &'a Path },
    /// An output was written.
    Exported { dest: &'a Path },
    /// A name now points at the result.
    Named(&'a ImageReference),
    /// The image for one platform was assembled.
    ImageAssembled {
        platform: &'a Platform,
        image_id: &'a Digest,
    },
    /// The cleanup after the build removed cache to keep the store within `limit` bytes.
    GarbageCollected { limit: u64, report: &'a PruneReport },
    /// Something went wrong that does not fail the build.
    Warning(String),
}

/// Receives notices, on the thread that called `Build::run`.
pub trait BuildEvents {
    fn notice(&self, notice: Notice<'_>);
}

/// Drops every notice (library use, tests).
pub struct IgnoreEvents;

impl BuildEvents for IgnoreEvents {
    fn notice(&self, _notice: Notice<'_>) {}
}

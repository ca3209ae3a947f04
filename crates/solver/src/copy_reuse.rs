//! Incremental COPY: a COPY from a local context that missed the cache is made from the
//! newest earlier result of the same instruction over the same parent chain when the store
//! still holds it — unchanged files are hard-linked from that (immutable) snapshot, only
//! added and changed files are written, removed ones are simply not there. The layer is the
//! one a full copy makes, byte for byte: which files may be shared is decided per file by
//! fileop's `FileReuse` (path, content digest, mode, owner, mtime, xattrs), and the tar
//! writer only emits hard-link entries for inodes seen twice *within* a layer.
//!
//! The cache key is untouched: it is still the content of the selection; this is only how
//! the snapshot is produced. When linking fails (another filesystem, too many links, the
//! earlier snapshot pruned meanwhile) the layer is made again by a full copy. Only plain
//! context copies qualify (no further parts, no archive unpacking).

use std::collections::HashMap;

use rbuild_cache::{CopyFiles, SnapshotChain, Store};
use rbuild_fileop::copy::{copy_into_root_reusing, CopyError, EarlierCopy, FileReuse};
use rbuild_oci::Digest;
use serde_json::json;

use crate::context::ContextSelection;
use crate::error::StepFailure;
use crate::graph::{CopyOp, CopySource};
use crate::ops::{copy_options, fresh_layer_over, StepContext};
use crate::progress::{LogStream, ProgressEvent};

/// Whether `op` is made through this module.
pub(crate) fn applies(op: &CopyOp) -> bool {
    matches!(op.source, CopySource::Context { .. }) && op.more.is_empty() && !op.unpack_archives
}

/// Makes the layer of `op` over `parent` from `selection`, reusing the files an earlier
/// result of the same instruction holds, and records this result's files for the next one.
pub(crate) fn copy_from_context(
    cx: &StepContext<'_>,
    op: &CopyOp,
    parent: &SnapshotChain,
    selection: &ContextSelection,
) -> Result<SnapshotChain, StepFailure> {
    let base = base_of(op, parent, cx.epoch);
    let earlier = cx.store.copy_files().get(&base).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the files of an earlier COPY");
        None
    });
    let (chain, reuse) = match attempt(cx, op, parent, selection, earlier.as_ref())? {
        Ok(done) => done,
        Err(e) => {
            tracing::info!(error = %e, "incremental COPY cannot link; copying in full");
            attempt(cx, op, parent, selection, None)??
        }
    };
    let linked = reuse.deferred_count();
    if linked > 0 {
        let line = format!(
            "incremental COPY: {linked} of {} files linked from an earlier snapshot\n",
            reuse.placed().len()
        );
        cx.progress.event(ProgressEvent::Log {
            vertex: cx.vertex,
            stream: LogStream::Stderr,
            bytes: line.into_bytes(),
        });
    }
    if chain != *parent {
        let record = CopyFiles {
            chain: chain.clone(),
            files: reuse.placed().to_vec(),
        };
        if let Err(e) = cx.store.copy_files().put(&base, &record) {
            tracing::warn!(error = %e, "cannot record the files of a COPY");
        }
    }
    Ok(chain)
}

/// One copy into a fresh upper dir, taking files from `earlier` when given. The inner
/// error is a failure to link from it (the upper dir is dropped; the caller copies in full).
fn attempt(
    cx: &StepContext<'_>,
    op: &CopyOp,
    parent: &SnapshotChain,
    selection: &ContextSelection,
    earlier: Option<&CopyFiles>,
) -> Result<Result<(SnapshotChain, FileReuse), CopyError>, StepFailure> {
    let (upper, stack) = fresh_layer_over(cx.store, parent)?;
    let earlier = earlier.and_then(|record| earlier_copy(cx.store, record, upper.upper()));
    let mut reuse =
        FileReuse::new(&selection.matches, &selection.file_digests).with_earlier(earlier);
    rbuild_exec::with_mounted_layers(&stack, &[], |merged, _| -> Result<(), StepFailure> {
        let options = copy_options(op, merged)?;
        copy_into_root_reusing(merged, &op.dest, &selection.matches, &options, &mut reuse)?;
        Ok(())
    })??;
    if let Err(e) = reuse.link_deferred() {
        return Ok(Err(e));
    }
    let chain = cx.store.layers().commit(parent, upper, cx.epoch)?;
    Ok(Ok((chain, reuse)))
}

/// The earlier result's snapshot directory (leased for this build) and files, when the
/// store still has it.
fn earlier_copy(store: &Store, record: &CopyFiles, upper: &std::path::Path) -> Option<EarlierCopy> {
    if record.chain.is_empty() {
        return None;
    }
    let snapshot = match store.layers().lower_dirs(&record.chain) {
        Ok(dirs) => dirs.into_iter().next()?,
        Err(e) => {
            tracing::debug!(error = %e, "the earlier COPY's snapshot is gone");
            return None;
        }
    };
    let files: HashMap<String, Digest> = record.files.iter().cloned().collect();
    Some(EarlierCopy {
        snapshot,
        files,
        upper: upper.to_path_buf(),
    })
}

/// What makes two COPY results comparable: the instruction without its selection's
/// content, and the parent chain it was applied to. Only picks a candidate; every shared
/// file is still checked on its own.
fn base_of(op: &CopyOp, parent: &SnapshotChain, epoch: Option<i64>) -> Digest {
    let context = match &op.source {
        CopySource::Context { name, excludes } => json!({ "name": name, "ignore": excludes }),
        _ => json!(null),
    };
    let material = json!({
        "incremental_copy": 1,
        "parent": parent.chain_id().map(|d| d.to_string()),
        "context": context,
        "paths": op.paths,
        "dest": op.dest,
        "chown": op.chown,
        "chmod": op.chmod,
        "excludes": op.excludes,
        "parents": op.parents,
        "source_date_epoch": epoch,
    });
    Digest::of(material.to_string().as_bytes())
}

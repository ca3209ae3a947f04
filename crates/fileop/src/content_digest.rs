//! The content digest of a selection: one sha256 over exactly what a COPY would carry: per
//! match the source pattern and matched path, per entry its path relative to the match, kind,
//! permission bits, symlink target and file bytes. Timestamps, inode numbers and owners are
//! left out, so touching, re-cloning or moving the context leaves the digest unchanged.
//!
//! File bytes are hashed in parallel, and a `DigestMemo` lets unchanged files skip reading.
//! Selecting the files is `select`'s job; storing the memo is the store's.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use rbuild_oci::Digest;
use sha2::{Digest as _, Sha256};

use crate::memo::{DigestMemo, FileStamp};
use crate::select::{EntryKind, SelectedEntry, SourceMatch};

/// Files modified this shortly before their bytes were read are not remembered: a second
/// write in the same timestamp tick would leave the stamp unchanged and go unnoticed (git's
/// "racy" rule). The window must cover one tick of the file system's clock. Timestamps with
/// nanoseconds (ext4, xfs, btrfs, tmpfs) come from the kernel's coarse clock, one scheduler
/// tick (at most 10 ms) apart; a whole-second mtime may come from a file system that keeps
/// only seconds (or FAT's two).
const FINE_RACY_WINDOW_NS: i64 = 100_000_000;
const COARSE_RACY_WINDOW_NS: i64 = 2_000_000_000;
const NS_PER_SECOND: i64 = 1_000_000_000;

/// Read size for hashing; one buffer per rayon worker.
const CHUNK: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("reading {path:?} to hash it: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A selection's digest and the content digest of every regular file in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectionDigest {
    pub digest: Digest,
    /// One per `File` entry, in the order the entries appear across the matches.
    pub file_digests: Vec<Digest>,
}

/// The digest of everything `matches` selected. Memo hits (same path, same `FileStamp`) are
/// trusted without reading; digests computed here are handed back to the memo in one
/// `put_many`, except for files modified too shortly before (see `is_racy`).
pub fn digest_selection(
    matches: &[SourceMatch],
    memo: &dyn DigestMemo,
) -> Result<Digest, DigestError> {
    digest_selection_with_files(matches, memo).map(|digested| digested.digest)
}

/// `digest_selection`, also returning each file's content digest (what a file-level
/// comparison of two selections needs).
pub fn digest_selection_with_files(
    matches: &[SourceMatch],
    memo: &dyn DigestMemo,
) -> Result<SelectionDigest, DigestError> {
    let files: Vec<&SelectedEntry> = matches
        .iter()
        .flat_map(|m| &m.entries)
        .filter(|entry| entry.kind == EntryKind::File)
        .collect();
    // Racy means modified too shortly before reading began, so take the time first.
    let reading_from = now_ns();
    let digests: Vec<(Digest, bool)> = files
        .par_iter()
        .map(|entry| match memo.get(&entry.host_path, &entry.stamp) {
            Some(digest) => Ok((digest, false)),
            None => hash_file(entry).map(|digest| (digest, true)),
        })
        .collect::<Result<_, _>>()?;
    remember_new(memo, &files, &digests, reading_from);

    let mut file_digests = digests.iter().map(|(digest, _)| digest);
    let mut hasher = Sha256::new_with_prefix(b"rbuild content digest v1\n");
    for found in matches {
        put_text(&mut hasher, &found.source);
        put_text(&mut hasher, &found.rel_path);
        hasher.update((found.entries.len() as u64).to_be_bytes());
        for entry in &found.entries {
            put_text(&mut hasher, found.path_within(entry));
            hasher.update((entry.mode & 0o7777).to_be_bytes());
            match &entry.kind {
                EntryKind::Dir => hasher.update(b"d"),
                EntryKind::Symlink(target) => {
                    hasher.update(b"l");
                    put_text(&mut hasher, target);
                }
                EntryKind::File => {
                    hasher.update(b"f");
                    // `files` holds exactly the File entries in this order.
                    if let Some(digest) = file_digests.next() {
                        hasher.update(digest.hex().as_bytes());
                    }
                }
            }
        }
    }
    Ok(SelectionDigest {
        digest: Digest::from_hasher(hasher),
        file_digests: digests.into_iter().map(|(digest, _)| digest).collect(),
    })
}

/// Length-prefixed, so that no two different sequences of fields encode alike.
fn put_text(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_be_bytes());
    hasher.update(text.as_bytes());
}

fn hash_file(entry: &SelectedEntry) -> Result<Digest, DigestError> {
    thread_local! {
        static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; CHUNK]);
    }
    let read_error = |source| DigestError::Read {
        path: entry.host_path.clone(),
        source,
    };
    let mut file = File::open(&entry.host_path).map_err(read_error)?;
    BUFFER.with_borrow_mut(|buffer| {
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            match file.read(buffer) {
                Ok(n) => {
                    hasher.update(&buffer[..n]);
                    total += n as u64;
                    // A short read past the stat'ed size is the end of a regular file: this
                    // saves the final zero-length read, a third of the syscalls for small files.
                    if n == 0 || (n < buffer.len() && total >= entry.size) {
                        return Ok(Digest::from_hasher(hasher));
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(read_error(err)),
            }
        }
    })
}

fn remember_new(
    memo: &dyn DigestMemo,
    files: &[&SelectedEntry],
    digests: &[(Digest, bool)],
    reading_from: i64,
) {
    let fresh: Vec<(PathBuf, FileStamp, Digest)> = files
        .iter()
        .zip(digests)
        .filter(|(entry, (_, computed))| *computed && !is_racy(&entry.stamp, reading_from))
        .map(|(entry, (digest, _))| (entry.host_path.clone(), entry.stamp, digest.clone()))
        .collect();
    if !fresh.is_empty() {
        memo.put_many(&fresh);
    }
}

/// Whether `stamp` may not change on a write made after `reading_from` (nanoseconds since
/// the epoch): its mtime lies within one clock tick of it, or after it.
fn is_racy(stamp: &FileStamp, reading_from: i64) -> bool {
    let window = if stamp.mtime_ns % NS_PER_SECOND == 0 {
        COARSE_RACY_WINDOW_NS
    } else {
        FINE_RACY_WINDOW_NS
    };
    stamp.mtime_ns >= reading_from.saturating_sub(window)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests;

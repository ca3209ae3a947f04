//! The layer tables of the metadata database: snapshot rows (one per unpacked chain),
//! layer tar sizes and fingerprints (one per diff id) and layer blob rows (compressed
//! variants of a diff id), and the one question the rest of the store asks of them: is a chain available?
//!
//! SQL only; moving directories and blobs is the layer store's job.

use std::path::Path;

use rbuild_oci::Digest;
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::fingerprint::TarFingerprint;
use crate::chain::SnapshotChain;
use crate::db::{from_sql_int, to_sql_int, unix_seconds};
use crate::layout::Layout;

/// One unpacked chain: `snapshots/<chain id>/` holds the top layer `diff_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotRow {
    pub chain_id: Digest,
    pub parent: Option<Digest>,
    pub diff_id: Digest,
    /// The mtime clamp the layer tar was made with (built layers only).
    pub epoch: Option<i64>,
    /// Built here: the directory regenerates the layer tar. Unpacked from a blob: it may
    /// not (another tool's entry order and headers), so the blob is the tar's source.
    pub regenerable: bool,
    pub disk_size: u64,
}

/// A compressed (or plain) blob that decompresses to a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayerBlobRow {
    pub diff_id: Digest,
    pub compression: String,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// Reads column `index` as a digest; a malformed value is a conversion failure.
fn digest_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Digest> {
    // Borrowed: listings parse thousands of these, and a copy each is measurable.
    let text = row
        .get_ref(index)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))?;
    text.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
}

fn optional_digest_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<Digest>> {
    match row.get::<_, Option<String>>(index)? {
        None => Ok(None),
        Some(_) => digest_column(row, index).map(Some),
    }
}

const SNAPSHOT_COLUMNS: &str = "chain_id, parent, diff_id, epoch, regenerable, disk_size";

fn snapshot_from_row(row: &Row<'_>) -> rusqlite::Result<SnapshotRow> {
    Ok(SnapshotRow {
        chain_id: digest_column(row, 0)?,
        parent: optional_digest_column(row, 1)?,
        diff_id: digest_column(row, 2)?,
        epoch: row.get(3)?,
        regenerable: row.get(4)?,
        disk_size: from_sql_int(row.get(5)?),
    })
}

pub(crate) fn snapshot(
    conn: &Connection,
    chain_id: &Digest,
) -> rusqlite::Result<Option<SnapshotRow>> {
    conn.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE chain_id = ?1"
    ))?
    .query_row([chain_id.to_string()], snapshot_from_row)
    .optional()
}

/// Snapshots built here whose top layer is `diff_id` (any of them regenerates its tar).
pub(crate) fn regenerable_snapshots(
    conn: &Connection,
    diff_id: &Digest,
) -> rusqlite::Result<Vec<SnapshotRow>> {
    conn.prepare_cached(&format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE diff_id = ?1 AND regenerable = 1"
    ))?
    .query_map([diff_id.to_string()], snapshot_from_row)?
    .collect()
}

pub(crate) fn all_snapshots(conn: &Connection) -> rusqlite::Result<Vec<SnapshotRow>> {
    conn.prepare(&format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots"))?
        .query_map([], snapshot_from_row)?
        .collect()
}

pub(crate) fn insert_snapshot(conn: &Connection, row: &SnapshotRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO snapshots
         (chain_id, parent, diff_id, epoch, regenerable, disk_size, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row.chain_id.to_string(),
        row.parent.as_ref().map(Digest::to_string),
        row.diff_id.to_string(),
        row.epoch,
        row.regenerable,
        to_sql_int(row.disk_size),
        unix_seconds(),
    ])?;
    Ok(())
}

pub(crate) fn delete_snapshot(conn: &Connection, chain_id: &Digest) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM snapshots WHERE chain_id = ?1",
        [chain_id.to_string()],
    )?;
    Ok(())
}

pub(crate) fn layer_size(conn: &Connection, diff_id: &Digest) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT tar_size FROM layers WHERE diff_id = ?1")?
        .query_row([diff_id.to_string()], |row| row.get::<_, i64>(0))
        .optional()
        .map(|size| size.map(from_sql_int))
}

/// The fingerprint recorded for layer `diff_id`, if its tar was committed here.
pub(crate) fn layer_fingerprint(
    conn: &Connection,
    diff_id: &Digest,
) -> rusqlite::Result<Option<TarFingerprint>> {
    let row = conn
        .prepare_cached("SELECT tar_size, tar_crc32 FROM layers WHERE diff_id = ?1")?
        .query_row([diff_id.to_string()], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    Ok(row.and_then(|(size, crc)| {
        Some(TarFingerprint {
            size: from_sql_int(size),
            crc32: u32::try_from(crc?).ok()?,
        })
    }))
}

/// Records the size and CRC-32 of layer `diff_id`'s tar (the CRC-32 where only the size
/// was known).
pub(crate) fn record_layer_fingerprint(
    conn: &Connection,
    diff_id: &Digest,
    fingerprint: TarFingerprint,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO layers (diff_id, tar_size, tar_crc32) VALUES (?1, ?2, ?3)
         ON CONFLICT (diff_id) DO UPDATE SET tar_crc32 = excluded.tar_crc32
         WHERE tar_crc32 IS NULL",
    )?
    .execute(params![
        diff_id.to_string(),
        to_sql_int(fingerprint.size),
        i64::from(fingerprint.crc32)
    ])?;
    Ok(())
}

pub(crate) fn record_layer_size(
    conn: &Connection,
    diff_id: &Digest,
    tar_size: u64,
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO layers (diff_id, tar_size) VALUES (?1, ?2)")?
        .execute(params![diff_id.to_string(), to_sql_int(tar_size)])?;
    Ok(())
}

const LAYER_BLOB_COLUMNS: &str = "diff_id, compression, digest, media_type, size";

fn layer_blob_from_row(row: &Row<'_>) -> rusqlite::Result<LayerBlobRow> {
    Ok(LayerBlobRow {
        diff_id: digest_column(row, 0)?,
        compression: row.get(1)?,
        digest: digest_column(row, 2)?,
        media_type: row.get(3)?,
        size: from_sql_int(row.get(4)?),
    })
}

/// The blobs recorded for `diff_id`, plain ones first (cheapest to read back).
pub(crate) fn layer_blobs(
    conn: &Connection,
    diff_id: &Digest,
) -> rusqlite::Result<Vec<LayerBlobRow>> {
    conn.prepare_cached(&format!(
        "SELECT {LAYER_BLOB_COLUMNS} FROM layer_blobs WHERE diff_id = ?1
         ORDER BY compression = 'none' DESC, compression"
    ))?
    .query_map([diff_id.to_string()], layer_blob_from_row)?
    .collect()
}

pub(crate) fn all_layer_blobs(conn: &Connection) -> rusqlite::Result<Vec<LayerBlobRow>> {
    conn.prepare(&format!("SELECT {LAYER_BLOB_COLUMNS} FROM layer_blobs"))?
        .query_map([], layer_blob_from_row)?
        .collect()
}

pub(crate) fn insert_layer_blob(conn: &Connection, row: &LayerBlobRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO layer_blobs (diff_id, compression, digest, media_type, size)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        row.diff_id.to_string(),
        row.compression,
        row.digest.to_string(),
        row.media_type,
        to_sql_int(row.size),
    ])?;
    Ok(())
}

pub(crate) fn delete_layer_blobs_of(conn: &Connection, digest: &Digest) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM layer_blobs WHERE digest = ?1",
        [digest.to_string()],
    )?;
    Ok(())
}

/// A layer blob row whose blob file is present.
pub(crate) fn present_layer_blob(
    conn: &Connection,
    layout: &Layout,
    diff_id: &Digest,
) -> rusqlite::Result<Option<LayerBlobRow>> {
    Ok(layer_blobs(conn, diff_id)?
        .into_iter()
        .find(|row| layout.blob(&row.digest).is_file()))
}

/// Whether a snapshot row and its directory both exist.
pub(crate) fn snapshot_present(
    conn: &Connection,
    layout: &Layout,
    chain_id: &Digest,
) -> rusqlite::Result<bool> {
    Ok(snapshot(conn, chain_id)?.is_some() && is_dir(&layout.snapshot(chain_id)))
}

/// Whether every layer of `chain` can be had: unpacked, or as a blob to unpack.
pub(crate) fn chain_available(
    conn: &Connection,
    layout: &Layout,
    chain: &SnapshotChain,
) -> rusqlite::Result<bool> {
    for (chain_id, diff_id) in chain.chain_ids().zip(&chain.layers) {
        if !snapshot_present(conn, layout, &chain_id)?
            && present_layer_blob(conn, layout, diff_id)?.is_none()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn is_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

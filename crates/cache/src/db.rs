//! `Database`: the store's SQLite metadata file — connection setup (WAL, busy timeout,
//! foreign keys), schema migrations, and the two ways to use it: a read, or a write
//! transaction that takes the write lock up front (`BEGIN IMMEDIATE`) so that concurrent
//! rbuild processes serialize instead of failing.
//!
//! Table contents are the business of the modules that own them (blobs, layers, index,
//! images, memo, leases); this module knows the schema only to create it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{DbContext, StoreError};
use crate::space_reserve::free_bytes;

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// Schema versions in order; `PRAGMA user_version` records how many have been applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE snapshots (
    chain_id    TEXT PRIMARY KEY,
    parent      TEXT,
    diff_id     TEXT NOT NULL,
    epoch       INTEGER,
    regenerable INTEGER NOT NULL,
    disk_size   INTEGER NOT NULL,
    created     INTEGER NOT NULL
);
CREATE INDEX snapshots_by_diff ON snapshots(diff_id);
CREATE TABLE layers (
    diff_id  TEXT PRIMARY KEY,
    tar_size INTEGER NOT NULL
);
CREATE TABLE layer_blobs (
    diff_id     TEXT NOT NULL,
    compression TEXT NOT NULL,
    digest      TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (diff_id, compression)
);
CREATE INDEX layer_blobs_by_digest ON layer_blobs(digest);
CREATE TABLE cache_records (
    key         TEXT PRIMARY KEY,
    chain       TEXT NOT NULL,
    explanation TEXT NOT NULL,
    build_id    TEXT NOT NULL,
    created     INTEGER NOT NULL,
    last_used   INTEGER NOT NULL
);
CREATE TABLE images (
    name       TEXT PRIMARY KEY,
    target     TEXT NOT NULL,
    descriptor TEXT NOT NULL,
    updated    INTEGER NOT NULL
);
CREATE TABLE context_memo (
    path     BLOB PRIMARY KEY,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    inode    INTEGER NOT NULL,
    device   INTEGER NOT NULL,
    digest   TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE leases (
    id         INTEGER PRIMARY KEY,
    pid        INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    created    INTEGER NOT NULL
);
CREATE TABLE lease_chains (
    lease_id INTEGER NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    chain_id TEXT NOT NULL,
    PRIMARY KEY (lease_id, chain_id)
) WITHOUT ROWID;
CREATE TABLE lease_blobs (
    lease_id INTEGER NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    PRIMARY KEY (lease_id, digest)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE builds (
    id          TEXT PRIMARY KEY,
    context_dir TEXT NOT NULL,
    dockerfile  TEXT NOT NULL,
    created     INTEGER NOT NULL,
    document    BLOB NOT NULL
);
CREATE INDEX builds_by_dockerfile ON builds(dockerfile, created);
CREATE TABLE build_listings (
    build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    PRIMARY KEY (build_id, digest)
) WITHOUT ROWID;
CREATE INDEX build_listings_by_digest ON build_listings(digest);
CREATE TABLE context_listings (
    digest  TEXT PRIMARY KEY,
    listing BLOB NOT NULL,
    created INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE copy_files (
    base    TEXT PRIMARY KEY,
    record  BLOB NOT NULL,
    created INTEGER NOT NULL
);
"#,
    // The CRC-32 of a layer tar committed here (NULL where unknown): see
    // `layers::fingerprint`.
    r#"
ALTER TABLE layers ADD COLUMN tar_crc32 INTEGER;
"#,
    // The context memo as one row per directory (see `memo::dir_rows`). The per-file rows
    // are dropped, not converted: the memo only saves re-reading files, so the first build
    // after the upgrade hashes its context again.
    r#"
DROP TABLE context_memo;
CREATE TABLE context_memo (
    dir   BLOB PRIMARY KEY,
    files BLOB NOT NULL
) WITHOUT ROWID;
"#,
];

pub(crate) struct Database {
    connection: Mutex<Connection>,
    path: PathBuf,
}

impl Database {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Database, StoreError> {
        Database::open_connection(path).map_err(|e| no_space_at(path, e))
    }

    fn open_connection(path: &Path) -> Result<Database, StoreError> {
        let mut connection = Connection::open(path).db("opening meta.db")?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .db("setting the busy timeout")?;
        enable_wal(&connection)?;
        // The last connection to close would otherwise checkpoint the WAL into the database
        // (two fsyncs) and delete the WAL and shared-memory files, which the next process
        // creates again: most of what a no-op build writes. SQLite checkpoints on its own
        // once the WAL passes 1000 pages; the data is as safe in the WAL as in the file.
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .db("keeping the WAL on close")?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .db("setting synchronous mode")?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .db("enabling foreign keys")?;
        migrate(&mut connection)?;
        Ok(Database {
            connection: Mutex::new(connection),
            path: path.to_path_buf(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic elsewhere while holding the lock leaves SQLite consistent (an open
        // transaction is rolled back when dropped), so the connection stays usable.
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs queries outside any explicit transaction.
    pub fn read<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.lock()).db(context)
    }

    /// Runs `f` in a write transaction, committed when `f` succeeds and rolled back
    /// otherwise. Filesystem steps done inside `f` are atomic with respect to every other
    /// store user, which is what lets commits, unpacks and prune race safely.
    pub fn write<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.lock();
        let written = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db(context)
            .and_then(|tx| {
                let value = f(&tx)?;
                tx.commit().db(context)?;
                Ok(value)
            });
        written.map_err(|e| no_space_at(&self.path, e))
    }
}

/// Below this much free space an I/O error of SQLite's is taken for a full filesystem
/// (SQLite reports a shared-memory file it cannot size as a plain I/O error).
const LOW_SPACE: u64 = 1 << 20;

/// A SQLite failure caused by the filesystem being full, said so with the database's path.
fn no_space_at(path: &Path, err: StoreError) -> StoreError {
    let StoreError::Database { context, source } = &err else {
        return err;
    };
    let full = match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => true,
        Some(rusqlite::ErrorCode::SystemIoFailure) => path
            .parent()
            .and_then(free_bytes)
            .is_some_and(|free| free < LOW_SPACE),
        _ => false,
    };
    if !full {
        return err;
    }
    StoreError::NoSpace {
        context,
        path: path.to_path_buf(),
    }
}

/// Switches the database to WAL (a persistent property of the file). While another process
/// creates the same database, SQLite reports the switch busy without waiting, so it is
/// retried for as long as the busy timeout allows.
fn enable_wal(connection: &Connection) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    loop {
        let attempt: rusqlite::Result<String> =
            connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0));
        match attempt {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(StoreError::corrupt(
                    "meta.db",
                    format!("cannot enable WAL (journal mode stays {mode:?})"),
                ))
            }
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).db("enabling WAL"),
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db("starting schema migration")?;
    let applied: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .db("reading schema version")?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::corrupt(
            "meta.db schema",
            format!(
                "version {applied} is newer than this rbuild understands ({})",
                MIGRATIONS.len()
            ),
        ));
    }
    for migration in &MIGRATIONS[applied..] {
        tx.execute_batch(migration).db("migrating schema")?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
        .db("recording schema version")?;
    tx.commit().db("committing schema migration")
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_seconds() -> i64 {
    unix_nanos() / 1_000_000_000
}

/// Nanoseconds since the Unix epoch (fine-grained enough to order uses for LRU).
pub(crate) fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// SQLite stores integers signed; sizes, inodes and devices round-trip through this.
pub(crate) fn to_sql_int(value: u64) -> i64 {
    value as i64
}

pub(crate) fn from_sql_int(value: i64) -> u64 {
    value as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        Database::open(&path).unwrap();
        let db = Database::open(&path).unwrap();
        let version: i64 = db
            .read("version", |c| {
                c.pragma_query_value(None, "user_version", |r| r.get(0))
            })
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = db
            .read("mode", |c| {
                c.pragma_query_value(None, "journal_mode", |r| r.get(0))
            })
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn the_last_close_keeps_the_wal_and_the_next_open_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let db = Database::open(&path).unwrap();
        db.write("t", |tx| {
            tx.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7);")
                .db("t")
        })
        .unwrap();
        drop(db);
        // No checkpoint on close: the WAL (holding the write) and its index stay.
        let wal = dir.path().join("meta.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        assert!(dir.path().join("meta.db-shm").exists());
        let db = Database::open(&path).unwrap();
        let v: i64 = db
            .read("t", |c| c.query_row("SELECT v FROM t", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(v, 7);
    }

    #[test]
    fn a_failed_write_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("meta.db")).unwrap();
        let result: Result<(), StoreError> = db.write("test", |tx| {
            tx.execute("INSERT INTO layers VALUES ('x', 1)", [])
                .db("insert")?;
            Err(StoreError::corrupt("test", "forced"))
        });
        assert!(result.is_err());
        let count: i64 = db
            .read("count", |c| {
                c.query_row("SELECT COUNT(*) FROM layers", [], |r| r.get(0))
            })
            .unwrap();
        assert_eq!(count, 0);
    }
}

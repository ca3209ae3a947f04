//! Leases: a build in progress marks what it uses so that a concurrent prune (in this or
//! another process) leaves it alone.
//!
//! A `Lease` is a row in `leases` owned by a process identity. While a store handle holds
//! live leases, every chain it commits, unpacks, records or looks up and every blob it writes
//! is attached to them (`lease_chains`, `lease_blobs`). Dropping the lease deletes the row and
//! its attachments; rows of processes that died are expired by `expire_dead`. Deciding what
//! to delete is prune's business, not this module's.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rbuild_oci::Digest;
use rusqlite::{params, Connection};

use crate::chain::SnapshotChain;
use crate::db::unix_seconds;
use crate::error::{DbContext, StoreError};
use crate::process::ProcessIdentity;
use crate::store::Shared;

/// The leases held through one store handle (and its clones).
#[derive(Debug, Default)]
pub(crate) struct ActiveLeases {
    ids: Mutex<Vec<i64>>,
}

impl ActiveLeases {
    fn ids(&self) -> Vec<i64> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn add(&self, id: i64) {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
    }

    fn remove(&self, id: i64) {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&held| held != id);
    }

    /// Attaches every prefix of `chain` (each snapshot it needs) to the live leases.
    pub fn protect_chain(&self, conn: &Connection, chain: &SnapshotChain) -> rusqlite::Result<()> {
        let ids = self.ids();
        if ids.is_empty() {
            return Ok(());
        }
        let mut insert = conn.prepare_cached(
            "INSERT OR IGNORE INTO lease_chains (lease_id, chain_id) VALUES (?1, ?2)",
        )?;
        for chain_id in chain.chain_ids() {
            for id in &ids {
                insert.execute(params![id, chain_id.to_string()])?;
            }
        }
        Ok(())
    }

    /// Attaches a blob to the live leases.
    pub fn protect_blob(&self, conn: &Connection, digest: &Digest) -> rusqlite::Result<()> {
        let mut insert = conn.prepare_cached(
            "INSERT OR IGNORE INTO lease_blobs (lease_id, digest) VALUES (?1, ?2)",
        )?;
        for id in self.ids() {
            insert.execute(params![id, digest.to_string()])?;
        }
        Ok(())
    }
}

/// A build in progress. What the store handle that made it touches while it lives is
/// protected from prune; dropping it releases the protection.
#[derive(Debug)]
pub struct Lease {
    shared: Arc<Shared>,
    id: i64,
}

impl Lease {
    pub(crate) fn acquire(shared: &Arc<Shared>) -> Result<Lease, StoreError> {
        let owner = ProcessIdentity::current();
        let id = shared.db.write("taking a lease", |tx| {
            tx.execute(
                "INSERT INTO leases (pid, start_time, created) VALUES (?1, ?2, ?3)",
                params![owner.pid, owner.start_time as i64, unix_seconds()],
            )
            .db("taking a lease")?;
            Ok(tx.last_insert_rowid())
        })?;
        shared.leases.add(id);
        Ok(Lease {
            shared: Arc::clone(shared),
            id,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.leases.remove(self.id);
        let id = self.id;
        let released = self.shared.db.write("releasing a lease", |tx| {
            tx.execute("DELETE FROM leases WHERE id = ?1", [id])
                .db("releasing a lease")
        });
        if let Err(e) = released {
            tracing::warn!(lease = id, error = %e, "cannot release lease; it expires when this process exits");
        }
    }
}

/// Deletes leases whose owner process is gone; returns how many.
pub(crate) fn expire_dead(conn: &Connection) -> rusqlite::Result<usize> {
    let owners: Vec<(i64, u32, i64)> = conn
        .prepare("SELECT id, pid, start_time FROM leases")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut expired = 0;
    for (id, pid, start_time) in owners {
        let owner = ProcessIdentity {
            pid,
            start_time: start_time as u64,
        };
        if !owner.is_alive() {
            expired += conn.execute("DELETE FROM leases WHERE id = ?1", [id])?;
        }
    }
    Ok(expired)
}

/// What live leases protect: snapshot chain ids and blob digests (as stored text).
#[derive(Debug, Default)]
pub(crate) struct LeasedContent {
    pub chain_ids: HashSet<String>,
    pub blobs: HashSet<String>,
}

pub(crate) fn leased_content(conn: &Connection) -> rusqlite::Result<LeasedContent> {
    let column = |sql: &str| -> rusqlite::Result<HashSet<String>> {
        conn.prepare(sql)?
            .query_map([], |row| row.get(0))?
            .collect()
    };
    Ok(LeasedContent {
        chain_ids: column("SELECT DISTINCT chain_id FROM lease_chains")?,
        blobs: column("SELECT DISTINCT digest FROM lease_blobs")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn leases_record_chains_and_vanish_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let chain = SnapshotChain::default()
            .push(Digest::of(b"a"))
            .push(Digest::of(b"b"));
        let lease = store.lease().unwrap();
        store
            .shared()
            .db
            .write("t", |tx| {
                store.shared().leases.protect_chain(tx, &chain).db("t")
            })
            .unwrap();
        let leased = store.shared().db.read("t", leased_content).unwrap();
        assert_eq!(leased.chain_ids.len(), 2);
        drop(lease);
        let leased = store.shared().db.read("t", leased_content).unwrap();
        assert!(leased.chain_ids.is_empty());
        assert!(store.shared().leases.ids().is_empty());
    }

    #[test]
    fn leases_of_dead_processes_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _mine = store.lease().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        store
            .shared()
            .db
            .write("t", |tx| {
                tx.execute(
                    "INSERT INTO leases (pid, start_time, created) VALUES (?1, 1, 0)",
                    [dead_pid],
                )
                .db("t")
            })
            .unwrap();
        let expired = store
            .shared()
            .db
            .write("t", |tx| expire_dead(tx).db("t"))
            .unwrap();
        assert_eq!(expired, 1);
        let left: i64 = store
            .shared()
            .db
            .read("t", |c| {
                c.query_row("SELECT COUNT(*) FROM leases", [], |r| r.get(0))
            })
            .unwrap();
        assert_eq!(left, 1);
    }
}

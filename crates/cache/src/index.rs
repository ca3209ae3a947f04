//! `CacheIndex`: cache key → the snapshot chain a vertex produced, persistent across
//! processes, with the canonical document each key was hashed from (for `--explain`) and
//! the last use (for prune's LRU).
//!
//! Records made elsewhere (a shared CI cache) can be imported; they never replace a local
//! one. Keys are computed by the solver; this module neither computes nor interprets them. A
//! record whose chain is no longer available is treated as a miss.

use std::sync::Arc;

use rbuild_oci::Digest;
use rusqlite::{params, OptionalExtension};

use crate::chain::SnapshotChain;
use crate::db::{unix_nanos, unix_seconds};
use crate::error::{DbContext, StoreError};
use crate::layers::chain_available;
use crate::store::Shared;

/// What a cache key resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheRecord {
    pub chain: SnapshotChain,
    /// When the record was written (Unix seconds).
    pub created: i64,
    /// The build that wrote it.
    pub build_id: String,
}

/// What recording a key does when the key is recorded already.
enum Conflict {
    Replace,
    Keep,
}

/// Cache key → result.
#[derive(Debug)]
pub struct CacheIndex {
    shared: Arc<Shared>,
}

impl CacheIndex {
    pub(crate) fn new(shared: Arc<Shared>) -> CacheIndex {
        CacheIndex { shared }
    }

    /// The result recorded for `key`, if its layers are still available. Marks the record
    /// used and leases its chain.
    pub fn lookup(&self, key: &Digest) -> Result<Option<CacheRecord>, StoreError> {
        let layout = &self.shared.layout;
        self.shared.db.write("looking up a cache key", |tx| {
            let found = tx
                .prepare_cached("SELECT chain, created, build_id FROM cache_records WHERE key = ?1")
                .and_then(|mut s| {
                    s.query_row([key.to_string()], |row| {
                        Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
                })
                .db("looking up a cache key")?;
            let Some((chain_json, created, build_id)) = found else {
                return Ok(None);
            };
            let chain = parse_chain(key, &chain_json)?;
            if !chain_available(tx, layout, &chain).db("checking a cached chain")? {
                return Ok(None);
            }
            tx.execute(
                "UPDATE cache_records SET last_used = ?1 WHERE key = ?2",
                params![unix_nanos(), key.to_string()],
            )
            .db("marking a cache record used")?;
            self.shared
                .leases
                .protect_chain(tx, &chain)
                .db("leasing a cached chain")?;
            Ok(Some(CacheRecord {
                chain,
                created,
                build_id,
            }))
        })
    }

    /// Records that `key` produced `chain`. `explanation` is the canonical JSON the key was
    /// hashed from. The chain's layers must be in the store.
    pub fn record(
        &self,
        key: &Digest,
        chain: &SnapshotChain,
        explanation: &str,
        build_id: &str,
    ) -> Result<(), StoreError> {
        let record = CacheRecord {
            chain: chain.clone(),
            created: unix_seconds(),
            build_id: build_id.to_string(),
        };
        self.insert(key, &record, explanation, Conflict::Replace)
            .map(|_| ())
    }

    /// Adds a record made elsewhere (an imported cache), keeping its time and build, unless
    /// `key` is recorded already. The chain's layers must be in the store. Returns whether
    /// the record was added.
    pub fn import(
        &self,
        key: &Digest,
        record: &CacheRecord,
        explanation: &str,
    ) -> Result<bool, StoreError> {
        self.insert(key, record, explanation, Conflict::Keep)
    }

    fn insert(
        &self,
        key: &Digest,
        record: &CacheRecord,
        explanation: &str,
        conflict: Conflict,
    ) -> Result<bool, StoreError> {
        let layout = &self.shared.layout;
        let chain = &record.chain;
        let chain_json = serde_json::to_string(&chain.layers)
            .map_err(|e| StoreError::corrupt(format!("cache key {key}"), e))?;
        let verb = match conflict {
            Conflict::Replace => "INSERT OR REPLACE",
            Conflict::Keep => "INSERT OR IGNORE",
        };
        self.shared.db.write("recording a cache key", |tx| {
            if !chain_available(tx, layout, chain).db("checking a chain")? {
                let top = chain.layers.len() - 1;
                return Err(StoreError::LayerUnavailable {
                    diff_id: chain.layers[top].clone(),
                    chain_id: chain
                        .chain_id()
                        .unwrap_or_else(|| chain.layers[top].clone()),
                });
            }
            let added = tx
                .execute(
                    &format!(
                        "{verb} INTO cache_records
                         (key, chain, explanation, build_id, created, last_used)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                    ),
                    params![
                        key.to_string(),
                        chain_json,
                        explanation,
                        record.build_id,
                        record.created,
                        unix_nanos()
                    ],
                )
                .db("recording a cache key")?;
            self.shared
                .leases
                .protect_chain(tx, chain)
                .db("leasing a recorded chain")?;
            Ok(added > 0)
        })
    }

    /// The canonical JSON `key` was hashed from, if `key` was recorded.
    pub fn explanation(&self, key: &Digest) -> Result<Option<String>, StoreError> {
        self.shared.db.read("reading a cache key explanation", |c| {
            c.query_row(
                "SELECT explanation FROM cache_records WHERE key = ?1",
                [key.to_string()],
                |row| row.get(0),
            )
            .optional()
        })
    }
}

/// Parses the stored JSON list of diff ids.
pub(crate) fn parse_chain(key: &Digest, json: &str) -> Result<SnapshotChain, StoreError> {
    serde_json::from_str(json)
        .map(|layers| SnapshotChain { layers })
        .map_err(|e| StoreError::corrupt(format!("cache record {key}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn records_round_trip_and_scratch_chains_are_always_available() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Digest::of(b"key");
        assert_eq!(store.index().lookup(&key).unwrap(), None);
        let scratch = SnapshotChain::default();
        store
            .index()
            .record(&key, &scratch, r#"{"op":"scratch"}"#, "build-1")
            .unwrap();
        let record = store.index().lookup(&key).unwrap().unwrap();
        assert_eq!(record.chain, scratch);
        assert_eq!(record.build_id, "build-1");
        assert!(record.created > 1_600_000_000);
        assert_eq!(
            store.index().explanation(&key).unwrap().as_deref(),
            Some(r#"{"op":"scratch"}"#)
        );
    }

    #[test]
    fn imports_keep_their_time_and_never_replace_a_local_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = Digest::of(b"imported");
        let imported = CacheRecord {
            chain: SnapshotChain::default(),
            created: 1_000,
            build_id: "ci-build".into(),
        };
        assert!(store.index().import(&key, &imported, "{}").unwrap());
        assert_eq!(store.index().lookup(&key).unwrap(), Some(imported.clone()));
        let later = CacheRecord {
            created: 2_000,
            ..imported.clone()
        };
        assert!(!store.index().import(&key, &later, "{}").unwrap());
        assert_eq!(store.index().lookup(&key).unwrap(), Some(imported));
    }

    #[test]
    fn recording_a_chain_whose_layers_are_missing_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let chain = SnapshotChain::default().push(Digest::of(b"nowhere"));
        let err = store
            .index()
            .record(&Digest::of(b"k"), &chain, "{}", "b")
            .unwrap_err();
        assert!(matches!(err, StoreError::LayerUnavailable { .. }), "{err}");
    }
}

//! Deciding what prune removes, as a pure computation over a picture of the store.
//!
//! Cache records hold snapshots (every prefix of their chain) and, through the diff ids of
//! live snapshots, layer blobs. Tagged images and live leases pin chains and blobs outright
//! (a record itself may go while its chain is leased: the build holding the lease already
//! has the chain, and the storage stays).
//! Records are dropped least recently used first while the policy asks for it — under a
//! size bound, never a record whose chain an image or lease pins: dropping it would free
//! nothing and only make the next build of a tagged image miss; whatever is then held by
//! nothing is garbage. Reference counts make each drop O(chain length), so
//! `keep_storage` can stop at exactly the record that brings usage under the limit.
//! Reading the store and deleting are `prune`'s job.

use std::collections::{HashMap, HashSet};

use rbuild_oci::Digest;

use crate::chain::SnapshotChain;
use crate::layers::{LayerBlobRow, SnapshotRow};
use crate::prune::PrunePolicy;

/// One cache record as prune sees it.
#[derive(Clone, Debug)]
pub(crate) struct RecordUse {
    pub key: String,
    pub chain: SnapshotChain,
    /// Unix nanoseconds.
    pub last_used: i64,
}

/// Everything prune decides on, read under the store write lock.
#[derive(Debug, Default)]
pub(crate) struct StoreContents {
    pub records: Vec<RecordUse>,
    pub snapshots: Vec<SnapshotRow>,
    pub layer_blobs: Vec<LayerBlobRow>,
    pub blob_sizes: HashMap<Digest, u64>,
    /// Chains of tagged images (every prefix is pinned).
    pub image_chains: Vec<SnapshotChain>,
    pub pinned_blobs: HashSet<Digest>,
    /// Chain ids attached to live leases.
    pub leased_chains: HashSet<Digest>,
}

/// What to remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PrunePlan {
    pub records: Vec<String>,
    pub snapshots: Vec<Digest>,
    pub blobs: Vec<Digest>,
    pub bytes: u64,
}

pub(crate) fn plan(contents: &StoreContents, policy: &PrunePolicy, now_nanos: i64) -> PrunePlan {
    let mut liveness = Liveness::new(contents);
    let total: u64 = contents
        .snapshots
        .iter()
        .map(|row| row.disk_size)
        .sum::<u64>()
        + contents.blob_sizes.values().sum::<u64>();
    let cutoff = policy
        .older_than
        .map(|age| now_nanos.saturating_sub(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX)));
    let mut by_age: Vec<&RecordUse> = contents
        .records
        .iter()
        .filter(|r| cutoff.is_none_or(|cutoff| r.last_used < cutoff))
        .collect();
    by_age.sort_by(|a, b| (a.last_used, &a.key).cmp(&(b.last_used, &b.key)));

    let mut removed = Vec::new();
    let mut current = liveness.kept_bytes();
    let drop_all = policy.all || policy.older_than.is_some();
    for record in by_age {
        match policy.keep_storage {
            Some(limit) if current <= limit => break,
            Some(_) => {}
            None if !drop_all => break,
            None => {}
        }
        if !drop_all && liveness.is_pinned(&record.chain) {
            continue;
        }
        current -= liveness.drop_record(record);
        removed.push(record.key.clone());
    }
    PrunePlan {
        records: removed,
        snapshots: liveness.dead_snapshots(),
        blobs: liveness.dead_blobs(),
        bytes: total.saturating_sub(current),
    }
}

/// Reference counts over snapshots (by chain id), diff ids and blobs.
struct Liveness<'a> {
    contents: &'a StoreContents,
    chain_refs: HashMap<Digest, usize>,
    pinned_chains: HashSet<Digest>,
    diff_of: HashMap<Digest, Digest>,
    diff_refs: HashMap<Digest, usize>,
    blobs_of_diff: HashMap<Digest, Vec<Digest>>,
    diffs_of_blob: HashMap<Digest, Vec<Digest>>,
    snapshot_size: HashMap<Digest, u64>,
    dropped_blobs: HashSet<Digest>,
}

impl<'a> Liveness<'a> {
    fn new(contents: &'a StoreContents) -> Liveness<'a> {
        let mut liveness = Liveness {
            contents,
            chain_refs: HashMap::new(),
            pinned_chains: contents.leased_chains.clone(),
            diff_of: HashMap::new(),
            diff_refs: HashMap::new(),
            blobs_of_diff: HashMap::new(),
            diffs_of_blob: HashMap::new(),
            snapshot_size: HashMap::new(),
            dropped_blobs: HashSet::new(),
        };
        for row in &contents.snapshots {
            liveness
                .diff_of
                .insert(row.chain_id.clone(), row.diff_id.clone());
            liveness
                .snapshot_size
                .insert(row.chain_id.clone(), row.disk_size);
        }
        for record in &contents.records {
            for (chain_id, diff_id) in record.chain.chain_ids().zip(&record.chain.layers) {
                *liveness.chain_refs.entry(chain_id.clone()).or_default() += 1;
                liveness.diff_of.insert(chain_id, diff_id.clone());
            }
        }
        for chain in &contents.image_chains {
            for (chain_id, diff_id) in chain.chain_ids().zip(&chain.layers) {
                liveness.pinned_chains.insert(chain_id.clone());
                liveness.diff_of.insert(chain_id, diff_id.clone());
            }
        }
        for row in &contents.layer_blobs {
            liveness
                .blobs_of_diff
                .entry(row.diff_id.clone())
                .or_default()
                .push(row.digest.clone());
            liveness
                .diffs_of_blob
                .entry(row.digest.clone())
                .or_default()
                .push(row.diff_id.clone());
        }
        let live: Vec<Digest> = liveness
            .diff_of
            .keys()
            .filter(|id| liveness.is_live(id))
            .cloned()
            .collect();
        for chain_id in live {
            *liveness
                .diff_refs
                .entry(liveness.diff_of[&chain_id].clone())
                .or_default() += 1;
        }
        liveness
    }

    fn is_live(&self, chain_id: &Digest) -> bool {
        self.pinned_chains.contains(chain_id)
            || self.chain_refs.get(chain_id).is_some_and(|&n| n > 0)
    }

    /// Whether an image or a lease pins `chain` (its top, hence every prefix).
    fn is_pinned(&self, chain: &SnapshotChain) -> bool {
        chain
            .chain_id()
            .is_some_and(|top| self.pinned_chains.contains(&top))
    }

    fn blob_kept(&self, digest: &Digest) -> bool {
        self.contents.pinned_blobs.contains(digest)
            || self.diffs_of_blob.get(digest).is_some_and(|diffs| {
                diffs
                    .iter()
                    .any(|diff| self.diff_refs.get(diff).is_some_and(|&n| n > 0))
            })
    }

    fn kept_bytes(&self) -> u64 {
        let snapshots: u64 = self
            .snapshot_size
            .iter()
            .filter(|(id, _)| self.is_live(id))
            .map(|(_, size)| size)
            .sum();
        let blobs: u64 = self
            .contents
            .blob_sizes
            .iter()
            .filter(|(digest, _)| self.blob_kept(digest))
            .map(|(_, size)| size)
            .sum();
        snapshots + blobs
    }

    /// Releases a record's hold; returns the bytes that became garbage.
    fn drop_record(&mut self, record: &RecordUse) -> u64 {
        let mut freed = 0;
        for chain_id in record.chain.chain_ids() {
            let refs = self.chain_refs.entry(chain_id.clone()).or_default();
            *refs = refs.saturating_sub(1);
            if *refs > 0 || self.pinned_chains.contains(&chain_id) {
                continue;
            }
            freed += self.snapshot_size.get(&chain_id).copied().unwrap_or(0);
            if let Some(diff_id) = self.diff_of.get(&chain_id).cloned() {
                freed += self.release_diff(&diff_id);
            }
        }
        freed
    }

    fn release_diff(&mut self, diff_id: &Digest) -> u64 {
        let refs = self.diff_refs.entry(diff_id.clone()).or_default();
        *refs = refs.saturating_sub(1);
        if *refs > 0 {
            return 0;
        }
        let mut freed = 0;
        for digest in self.blobs_of_diff.get(diff_id).cloned().unwrap_or_default() {
            if !self.contents.pinned_blobs.contains(&digest)
                && self.dropped_blobs.insert(digest.clone())
            {
                freed += self.contents.blob_sizes.get(&digest).copied().unwrap_or(0);
            }
        }
        freed
    }

    fn dead_snapshots(&self) -> Vec<Digest> {
        let mut dead: Vec<Digest> = self
            .snapshot_size
            .keys()
            .filter(|id| !self.is_live(id))
            .cloned()
            .collect();
        dead.sort();
        dead
    }

    fn dead_blobs(&self) -> Vec<Digest> {
        let mut dead: Vec<Digest> = self
            .contents
            .blob_sizes
            .keys()
            .filter(|digest| !self.blob_kept(digest))
            .cloned()
            .collect();
        dead.sort();
        dead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(contents: &mut StoreContents, chain: &SnapshotChain, size: u64, blob: Option<u64>) {
        let chain_id = chain.chain_id().unwrap();
        let diff_id = chain.layers.last().unwrap().clone();
        contents.snapshots.push(SnapshotRow {
            chain_id,
            parent: chain.prefix(chain.layers.len() - 1).chain_id(),
            diff_id: diff_id.clone(),
            epoch: None,
            regenerable: true,
            disk_size: size,
        });
        if let Some(blob_size) = blob {
            let digest = Digest::of(format!("blob of {diff_id}").as_bytes());
            contents.blob_sizes.insert(digest.clone(), blob_size);
            contents.layer_blobs.push(LayerBlobRow {
                diff_id,
                compression: "gzip".into(),
                digest,
                media_type: String::new(),
                size: blob_size,
            });
        }
    }

    fn record(contents: &mut StoreContents, key: &str, chain: &SnapshotChain, last_used: i64) {
        contents.records.push(RecordUse {
            key: key.into(),
            chain: chain.clone(),
            last_used,
        });
    }

    /// base ← a, base ← b: three snapshots, records for base, a and b.
    fn two_branches() -> (StoreContents, SnapshotChain) {
        let mut contents = StoreContents::default();
        let base = SnapshotChain::default().push(Digest::of(b"base"));
        let a = base.push(Digest::of(b"a"));
        let b = base.push(Digest::of(b"b"));
        layer(&mut contents, &base, 100, Some(40));
        layer(&mut contents, &a, 10, None);
        layer(&mut contents, &b, 20, Some(5));
        record(&mut contents, "base", &base, 1);
        record(&mut contents, "a", &a, 2);
        record(&mut contents, "b", &b, 3);
        (contents, base)
    }

    #[test]
    fn default_policy_removes_only_garbage() {
        let (mut contents, _) = two_branches();
        contents.blob_sizes.insert(Digest::of(b"stray manifest"), 7);
        let plan = plan(&contents, &PrunePolicy::default(), 10);
        assert!(plan.records.is_empty());
        assert!(plan.snapshots.is_empty());
        assert_eq!(plan.blobs, vec![Digest::of(b"stray manifest")]);
        assert_eq!(plan.bytes, 7);
    }

    #[test]
    fn keep_storage_drops_least_recently_used_until_under_the_limit() {
        let (contents, _) = two_branches();
        // Total 175. Dropping "base" frees nothing (a and b still need it); "a" frees 10.
        let plan = plan(
            &contents,
            &PrunePolicy {
                keep_storage: Some(170),
                ..Default::default()
            },
            10,
        );
        assert_eq!(plan.records, vec!["base", "a"]);
        assert_eq!(plan.snapshots.len(), 1);
        assert_eq!(plan.bytes, 10);
    }

    #[test]
    fn keep_storage_spares_records_of_pinned_chains() {
        let (mut contents, base) = two_branches();
        let a = base.push(Digest::of(b"a"));
        contents.image_chains.push(a.clone());
        // "base" and "a" are pinned by the image: only "b" can free anything (20 + 5).
        let plan = plan(
            &contents,
            &PrunePolicy {
                keep_storage: Some(0),
                ..Default::default()
            },
            10,
        );
        assert_eq!(plan.records, vec!["b"]);
        assert_eq!(
            plan.snapshots,
            vec![base.push(Digest::of(b"b")).chain_id().unwrap()]
        );
        assert_eq!(plan.bytes, 25);
    }

    #[test]
    fn all_keeps_what_images_and_leases_pin() {
        let (mut contents, base) = two_branches();
        contents.image_chains.push(base.clone());
        let b = base.push(Digest::of(b"b"));
        contents.leased_chains.extend(b.chain_ids());
        let plan = plan(
            &contents,
            &PrunePolicy {
                all: true,
                ..Default::default()
            },
            10,
        );
        assert_eq!(plan.records, vec!["base", "a", "b"]);
        assert_eq!(
            plan.snapshots,
            vec![base.push(Digest::of(b"a")).chain_id().unwrap()]
        );
        assert!(plan.blobs.is_empty());
    }

    #[test]
    fn older_than_spares_recent_records() {
        let (contents, _) = two_branches();
        let plan = plan(
            &contents,
            &PrunePolicy {
                older_than: Some(std::time::Duration::from_nanos(8)),
                ..Default::default()
            },
            10,
        );
        assert_eq!(plan.records, vec!["base"]);
        assert!(plan.snapshots.is_empty());
    }
}

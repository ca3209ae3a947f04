//! `SnapshotChain`: the layers of a root filesystem, bottom first, named by their diff ids,
//! and the OCI ChainID that names each prefix of it.
//!
//! A value type only; where the layers are stored is the layer store's concern.

use rbuild_oci::Digest;
use serde::{Deserialize, Serialize};

/// The layers of a root filesystem, bottom first, named by diff ids. Empty is `scratch`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct SnapshotChain {
    pub layers: Vec<Digest>,
}

impl SnapshotChain {
    /// The OCI ChainID of the whole chain (`None` for the empty chain):
    /// `ChainID(L0) = DiffID(L0)`, `ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n))`.
    pub fn chain_id(&self) -> Option<Digest> {
        self.chain_ids().last()
    }

    /// This chain with one more layer on top.
    pub fn push(&self, diff_id: Digest) -> SnapshotChain {
        let mut layers = self.layers.clone();
        layers.push(diff_id);
        SnapshotChain { layers }
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The chain ids of every prefix, bottom first: entry `i` names layers `0..=i`.
    pub(crate) fn chain_ids(&self) -> impl Iterator<Item = Digest> + '_ {
        self.layers
            .iter()
            .scan(None::<Digest>, |previous, diff_id| {
                let next = child_chain_id(previous.as_ref(), diff_id);
                *previous = Some(next.clone());
                Some(next)
            })
    }

    /// The first `len` layers.
    pub(crate) fn prefix(&self, len: usize) -> SnapshotChain {
        SnapshotChain {
            layers: self.layers[..len.min(self.layers.len())].to_vec(),
        }
    }
}

/// The chain id of layer `diff_id` on top of the chain named `parent` (`None`: no parent).
pub(crate) fn child_chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(parent) => Digest::of(format!("{parent} {diff_id}").as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_follows_the_oci_definition() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(SnapshotChain::default().chain_id(), None);
        let one = SnapshotChain::default().push(a.clone());
        assert_eq!(one.chain_id(), Some(a.clone()));
        let two = one.push(b.clone());
        let expected = Digest::of(format!("{a} {b}").as_bytes());
        assert_eq!(two.chain_id(), Some(expected.clone()));
        assert_eq!(two.chain_ids().collect::<Vec<_>>(), vec![a, expected]);
        assert_eq!(two.prefix(1), one);
    }

    #[test]
    fn busybox_single_layer_chain_id_is_its_diff_id() {
        let diff: Digest =
            "sha256:0958e0fef2d6a31e1325b8bfecd99dead933363682d69850a7606599023751bc"
                .parse()
                .unwrap();
        let chain = SnapshotChain {
            layers: vec![diff.clone()],
        };
        assert_eq!(chain.chain_id(), Some(diff));
    }
}

//! One directory's memo rows as the database holds them: a single blob of entries sorted by
//! file name, each the name, its `FileStamp` and the raw 32 bytes of its sha256. One row per
//! directory makes loading a context's memo a few hundred row reads instead of one per file,
//! and decoding indexes the blob in place (no allocation per file).
//!
//! Deciding which rows to load or write is the memo's business (`super`).

use std::collections::BTreeMap;

use rbuild_fileop::memo::FileStamp;

/// Bytes after each name: five 8-byte stamp fields and the digest.
const FIXED: usize = 5 * 8 + 32;
const NAME_LEN: usize = 2;

/// A remembered file: its stamp and the bytes of its content digest.
pub(super) type Remembered = (FileStamp, [u8; 32]);

/// A decoded directory blob: the bytes and where each entry starts.
#[derive(Debug, Default)]
pub(super) struct DirRows {
    blob: Vec<u8>,
    starts: Vec<u32>,
}

impl DirRows {
    /// Indexes `blob`; `None` when it is not a well-formed, name-sorted row blob (a damaged
    /// row is then treated as no memo at all, never trusted in part).
    pub(super) fn decode(blob: Vec<u8>) -> Option<DirRows> {
        let mut starts = Vec::new();
        let mut at = 0usize;
        let mut previous: Option<&[u8]> = None;
        while at < blob.len() {
            let len = usize::from(u16::from_le_bytes(
                blob.get(at..at + NAME_LEN)?.try_into().ok()?,
            ));
            let name = blob.get(at + NAME_LEN..at + NAME_LEN + len)?;
            if previous.is_some_and(|p| p >= name) {
                return None;
            }
            blob.get(at + NAME_LEN + len..at + NAME_LEN + len + FIXED)?;
            starts.push(u32::try_from(at).ok()?);
            previous = Some(name);
            at += NAME_LEN + len + FIXED;
        }
        Some(DirRows { blob, starts })
    }

    /// The blob of `entries` (names at most 65535 bytes; longer ones are left out).
    pub(super) fn encode(entries: &BTreeMap<Vec<u8>, Remembered>) -> Vec<u8> {
        let mut blob = Vec::with_capacity(entries.len() * (FIXED + 16));
        for (name, (stamp, digest)) in entries {
            let Ok(len) = u16::try_from(name.len()) else {
                continue;
            };
            blob.extend_from_slice(&len.to_le_bytes());
            blob.extend_from_slice(name);
            for field in [
                stamp.size,
                stamp.mtime_ns as u64,
                stamp.ctime_ns as u64,
                stamp.inode,
                stamp.device,
            ] {
                blob.extend_from_slice(&field.to_le_bytes());
            }
            blob.extend_from_slice(digest);
        }
        blob
    }

    /// The entry for file `name`.
    pub(super) fn get(&self, name: &[u8]) -> Option<Remembered> {
        let found = self
            .starts
            .binary_search_by(|&start| self.name_at(start).cmp(name))
            .ok()?;
        Some(self.remembered_at(self.starts[found]))
    }

    /// Every entry, by name.
    pub(super) fn entries(&self) -> impl Iterator<Item = (&[u8], Remembered)> + '_ {
        self.starts
            .iter()
            .map(|&start| (self.name_at(start), self.remembered_at(start)))
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.starts.len()
    }

    fn name_at(&self, start: u32) -> &[u8] {
        let at = start as usize;
        let len = usize::from(u16::from_le_bytes([self.blob[at], self.blob[at + 1]]));
        &self.blob[at + NAME_LEN..at + NAME_LEN + len]
    }

    fn remembered_at(&self, start: u32) -> Remembered {
        let name_end = start as usize + NAME_LEN + self.name_at(start).len();
        let fixed = &self.blob[name_end..name_end + FIXED];
        let field = |i: usize| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&fixed[i * 8..i * 8 + 8]);
            u64::from_le_bytes(bytes)
        };
        let stamp = FileStamp {
            size: field(0),
            mtime_ns: field(1) as i64,
            ctime_ns: field(2) as i64,
            inode: field(3),
            device: field(4),
        };
        let mut digest = [0; 32];
        digest.copy_from_slice(&fixed[40..]);
        (stamp, digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remembered(n: u8) -> Remembered {
        let stamp = FileStamp {
            size: u64::from(n),
            mtime_ns: -1_000 - i64::from(n),
            ctime_ns: 1_700_000_000_000_000_000,
            inode: u64::MAX - u64::from(n),
            device: 7,
        };
        (stamp, [n; 32])
    }

    #[test]
    fn rows_round_trip_and_are_found_by_name() {
        let entries: BTreeMap<Vec<u8>, Remembered> = [&b"b.txt"[..], b"a", b"\xff\xfe", b"zz"]
            .iter()
            .enumerate()
            .map(|(i, name)| (name.to_vec(), remembered(i as u8)))
            .collect();
        let rows = DirRows::decode(DirRows::encode(&entries)).unwrap();
        assert_eq!(rows.len(), 4);
        for (name, expected) in &entries {
            assert_eq!(rows.get(name), Some(*expected));
        }
        assert_eq!(rows.get(b"c"), None);
        assert_eq!(rows.get(b""), None);
        let listed: Vec<_> = rows.entries().map(|(n, r)| (n.to_vec(), r)).collect();
        assert_eq!(listed, entries.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn damaged_blobs_are_refused_whole() {
        let entries: BTreeMap<Vec<u8>, Remembered> = [
            (b"a".to_vec(), remembered(1)),
            (b"b".to_vec(), remembered(2)),
        ]
        .into_iter()
        .collect();
        let blob = DirRows::encode(&entries);
        // Both entries are the same length: a cut between them leaves one whole entry.
        let half = blob.len() / 2;
        for cut in (1..blob.len()).filter(|&cut| cut != half) {
            assert!(
                DirRows::decode(blob[..cut].to_vec()).is_none(),
                "cut at {cut}"
            );
        }
        assert_eq!(DirRows::decode(blob[..half].to_vec()).unwrap().len(), 1);
        // Two rows out of name order.
        let swapped = [&blob[half..], &blob[..half]].concat();
        assert!(DirRows::decode(swapped).is_none());
        assert_eq!(DirRows::decode(Vec::new()).unwrap().len(), 0);
    }
}

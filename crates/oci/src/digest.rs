//! `Digest`: a validated `sha256:<64 hex>` content address, and a writer that computes one
//! while bytes stream through it.
//!
//! Only sha256 is accepted: it is what OCI images use in practice and all rbuild stores.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The 64 lowercase hex digits of `bytes`, by table (a context of thousands of remembered
/// files makes thousands of these, and the `hex` crate's per-char iterator showed up).
fn lower_hex(bytes: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = Vec::with_capacity(64);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)]);
        text.push(DIGITS[usize::from(byte & 0xf)]);
    }
    // Only ASCII digits were pushed.
    String::from_utf8(text).unwrap_or_default()
}

/// A content address: `sha256:` followed by 64 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("digest {0:?} does not start with \"sha256:\"")]
    UnsupportedAlgorithm(String),
    #[error("digest {0:?} must have 64 lowercase hex digits after \"sha256:\"")]
    BadHex(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// Completes a running sha256 computation.
    pub fn from_hasher(hasher: Sha256) -> Digest {
        Digest {
            hex: lower_hex(&hasher.finalize().into()),
        }
    }

    /// The digest whose 32 bytes are `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Digest {
        Digest {
            hex: lower_hex(bytes),
        }
    }

    /// The 32 bytes the hex digits spell.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0; 32];
        // The hex digits were validated when the digest was made.
        if hex::decode_to_slice(&self.hex, &mut bytes).is_err() {
            unreachable!("a Digest always holds 64 hex digits");
        }
        bytes
    }

    /// Builds a digest from its 64 hex digits (no `sha256:` prefix).
    pub fn from_hex(hex_digits: &str) -> Result<Digest, DigestError> {
        let valid = hex_digits.len() == 64
            && hex_digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Digest {
                hex: hex_digits.to_string(),
            })
        } else {
            Err(DigestError::BadHex(hex_digits.to_string()))
        }
    }

    /// The 64 hex digits, e.g. for a file name under `blobs/sha256/`.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as `docker images` shows an image id.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    pub fn algorithm(&self) -> &'static str {
        "sha256"
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("sha256:") {
            Some(hex_digits) => Digest::from_hex(hex_digits),
            None => Err(DigestError::UnsupportedAlgorithm(s.to_string())),
        }
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Bytes handed to the hashing thread at a time.
const HASH_BATCH: usize = 1 << 20;
/// Batches queued for the hashing thread before the writer waits for it.
const QUEUED_BATCHES: usize = 2;

/// A writer that hashes and counts everything written through it. A stream longer than a
/// batch (1 MiB) is hashed on a thread of its own, so hashing a long layer or blob overlaps
/// with whatever produces its bytes; short ones never start a thread.
pub struct DigestingWriter<W> {
    inner: W,
    hashing: Hashing,
    written: u64,
}

/// Where the bytes written so far are hashed.
enum Hashing {
    /// Bytes collect in `batch`; a full batch starts the thread.
    Collecting { hasher: Sha256, batch: Vec<u8> },
    /// The thread hashes batches in order and hands them back emptied (`spent`), so their
    /// memory is reused; `batch` is the one being filled.
    Threaded {
        batch: Vec<u8>,
        send: SyncSender<Vec<u8>>,
        spent: Receiver<Vec<u8>>,
        thread: JoinHandle<Sha256>,
    },
    /// No thread could be started: bytes are hashed as they are written.
    Inline(Sha256),
}

impl<W: Write> DigestingWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestingWriter {
            inner,
            hashing: Hashing::Collecting {
                hasher: Sha256::new(),
                batch: Vec::new(),
            },
            written: 0,
        }
    }

    /// Returns the inner writer, the digest of all bytes written and their count.
    pub fn finish(self) -> (W, Digest, u64) {
        (
            self.inner,
            Digest::from_hasher(self.hashing.finish()),
            self.written,
        )
    }
}

impl Hashing {
    fn add(&mut self, bytes: &[u8]) {
        match self {
            Hashing::Inline(hasher) => hasher.update(bytes),
            Hashing::Collecting { hasher, batch } => {
                batch.extend_from_slice(bytes);
                if batch.len() >= HASH_BATCH {
                    let hasher = std::mem::take(hasher);
                    *self = Hashing::start_thread(hasher, std::mem::take(batch));
                }
            }
            Hashing::Threaded {
                batch, send, spent, ..
            } => {
                batch.extend_from_slice(bytes);
                if batch.len() >= HASH_BATCH {
                    let next = spent
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(HASH_BATCH));
                    let full = std::mem::replace(batch, next);
                    // A send fails only if the thread died; `finish` reports that.
                    let _ = send.send(full);
                }
            }
        }
    }

    /// Hands `hasher` and the first full `batch` to a new thread, or hashes inline from
    /// now on if no thread can be started.
    fn start_thread(mut hasher: Sha256, batch: Vec<u8>) -> Hashing {
        let (send, receive) = sync_channel::<Vec<u8>>(QUEUED_BATCHES);
        let (give_back, spent) = sync_channel::<Vec<u8>>(QUEUED_BATCHES + 1);
        let spawned = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                for mut batch in receive {
                    hasher.update(&batch);
                    batch.clear();
                    // Kept only while there is room; the writer may be done with them.
                    let _ = give_back.try_send(batch);
                }
                hasher
            });
        match spawned {
            Ok(thread) => {
                // The thread is alive and owns the receiver, so this send succeeds.
                let _ = send.send(batch);
                Hashing::Threaded {
                    batch: Vec::with_capacity(HASH_BATCH),
                    send,
                    spent,
                    thread,
                }
            }
            Err(_) => {
                let mut hasher = Sha256::new();
                hasher.update(&batch);
                Hashing::Inline(hasher)
            }
        }
    }

    fn finish(self) -> Sha256 {
        match self {
            Hashing::Inline(hasher) => hasher,
            Hashing::Collecting { mut hasher, batch } => {
                hasher.update(&batch);
                hasher
            }
            Hashing::Threaded {
                batch,
                send,
                thread,
                ..
            } => {
                let _ = send.send(batch);
                drop(send);
                // The thread only hashes; should it have panicked, so does the writer.
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hashing.add(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_value() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn raw_bytes_round_trip() {
        let digest = Digest::of(b"x");
        let bytes = digest.to_bytes();
        assert_eq!(bytes[..], sha2::Sha256::digest(b"x")[..]);
        assert_eq!(Digest::from_bytes(&bytes), digest);
    }

    #[test]
    fn parse_rejects_other_algorithms_and_bad_hex() {
        assert!(matches!(
            "sha512:abcd".parse::<Digest>(),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            "sha256:ABCD".parse::<Digest>(),
            Err(DigestError::BadHex(_))
        ));
        let good = Digest::of(b"x").to_string();
        assert_eq!(good.parse::<Digest>().unwrap().to_string(), good);
    }

    #[test]
    fn digesting_writer_matches_one_shot_digest() {
        let mut w = DigestingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (bytes, digest, n) = w.finish();
        assert_eq!(n, 11);
        assert_eq!(digest, Digest::of(&bytes));
    }

    #[test]
    fn a_long_stream_hashed_on_the_thread_matches_the_one_shot_digest() {
        let bytes: Vec<u8> = (0..3 * HASH_BATCH + 12_345)
            .map(|i| (i % 253) as u8)
            .collect();
        let mut w = DigestingWriter::new(io::sink());
        assert!(matches!(w.hashing, Hashing::Collecting { .. }));
        for piece in bytes.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        assert!(matches!(w.hashing, Hashing::Threaded { .. }));
        let (_, digest, n) = w.finish();
        assert_eq!(n, bytes.len() as u64);
        assert_eq!(digest, Digest::of(&bytes));
    }
}

//! Parallel, deterministic gzip: a writer that cuts its input into fixed-size chunks,
//! deflates the chunks on a small thread pool and writes them, in order, as one gzip member
//! (the pigz layout: each chunk a raw deflate run ended by a sync flush, the last one
//! finished; one header; the CRC-32 of every chunk combined into one trailer).
//!
//! Chunk boundaries depend only on the byte count, and each chunk is deflated on its own
//! (no dictionary carried over), so the output is the same for every thread count and
//! timing. Inside a chunk, every 64 KiB segment whose bytes are spread almost evenly over
//! all 256 values — random, encrypted or already compressed data — is written as stored
//! blocks instead: deflate spends most of its time on such bytes and gains nothing. Runs
//! of compressible segments are deflated together. The test is integer arithmetic on the
//! segment's own bytes, so the output stays the same on every machine. At most a few
//! chunks per thread are in flight, so memory stays bounded however long the stream is.
//! It does not decompress; any gzip reader does that.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::sync::mpsc::{sync_channel, Receiver};

use flate2::{Compress, Crc, FlushCompress, Status};

/// Bytes of input per chunk; fixed, because the output depends on it.
pub(crate) const CHUNK: usize = 1 << 20;
/// Chunks in flight per worker thread before the writer waits for the oldest.
const IN_FLIGHT_PER_WORKER: usize = 2;
/// Bytes per segment, the unit a chunk is cut into to tell compressible bytes from the rest.
const SEGMENT: usize = 64 << 10;
/// A segment is incompressible when the chance that two of its bytes are equal is at most
/// this many sixteenths of 1/256, the chance for perfectly even bytes (random bytes
/// measure about 16.06; text, code and tables measure well above 20).
const EVEN_SPREAD_SIXTEENTHS: u64 = 17;
/// A gzip header: magic, deflate, no flags, no mtime, no extra flags, OS "unknown".
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// One deflated chunk and the CRC-32 of its input.
type Deflated = io::Result<(Vec<u8>, Crc)>;

/// A gzip writer that compresses on `workers` threads; see the module comment.
pub(crate) struct ParallelGzEncoder<W: Write> {
    inner: W,
    level: flate2::Compression,
    workers: usize,
    pool: Option<rayon::ThreadPool>,
    pending: Vec<u8>,
    in_flight: VecDeque<Receiver<Deflated>>,
    crc: Crc,
    header_written: bool,
}

impl<W: Write> ParallelGzEncoder<W> {
    /// An encoder using as many threads as the machine offers.
    pub fn new(inner: W, level: flate2::Compression) -> Self {
        let workers = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self::with_workers(inner, level, workers)
    }

    /// An encoder using `workers` threads (at least one).
    pub fn with_workers(inner: W, level: flate2::Compression, workers: usize) -> Self {
        Self {
            inner,
            level,
            workers: workers.max(1),
            pool: None,
            pending: Vec::with_capacity(CHUNK),
            in_flight: VecDeque::new(),
            crc: Crc::new(),
            header_written: false,
        }
    }

    /// Deflates what is left as the final chunk, writes the trailer and returns the inner
    /// writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.pending);
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        let (deflated, crc) = deflate_chunk(&last, self.level, FlushCompress::Finish)?;
        self.write_deflated(&deflated, &crc)?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.inner.write_all(&trailer)?;
        Ok(self.inner)
    }

    /// Hands the full pending chunk to the pool, first making room if too many are in flight.
    fn submit_pending(&mut self) -> io::Result<()> {
        if self.in_flight.len() >= self.workers * IN_FLIGHT_PER_WORKER {
            self.write_oldest()?;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        let level = self.level;
        let (send, receive) = sync_channel(1);
        self.pool()?.spawn(move || {
            // The receiver is gone only if the encoder was dropped; nothing to report then.
            let _ = send.send(deflate_chunk(&chunk, level, FlushCompress::Sync));
        });
        self.in_flight.push_back(receive);
        Ok(())
    }

    fn pool(&mut self) -> io::Result<&rayon::ThreadPool> {
        let pool = match self.pool.take() {
            Some(pool) => pool,
            None => rayon::ThreadPoolBuilder::new()
                .num_threads(self.workers)
                .thread_name(|i| format!("gzip-{i}"))
                .build()
                .map_err(io::Error::other)?,
        };
        Ok(self.pool.insert(pool))
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(receive) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let (deflated, crc) = receive
            .recv()
            .map_err(|_| io::Error::other("a gzip worker thread stopped"))??;
        self.write_deflated(&deflated, &crc)
    }

    fn write_deflated(&mut self, deflated: &[u8], crc: &Crc) -> io::Result<()> {
        if !self.header_written {
            self.inner.write_all(&HEADER)?;
            self.header_written = true;
        }
        self.inner.write_all(deflated)?;
        self.crc.combine(crc);
        Ok(())
    }
}

impl<W: Write> Write for ParallelGzEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..take]);
        if self.pending.len() == CHUNK {
            self.submit_pending()?;
        }
        Ok(take)
    }

    /// Writes the chunks already deflated; the chunk being filled stays pending, because
    /// cutting it early would change the output.
    fn flush(&mut self) -> io::Result<()> {
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        self.inner.flush()
    }
}

/// Raw deflate of one chunk, ended by `flush` (`Sync` leaves the stream open and
/// byte-aligned for the next chunk, `Finish` ends it), with the chunk's CRC-32. Each run of
/// alike segments is a deflate stream of its own, sync-flushed, so the runs concatenate
/// into one valid stream.
fn deflate_chunk(input: &[u8], level: flate2::Compression, flush: FlushCompress) -> Deflated {
    let mut crc = Crc::new();
    crc.update(input);
    let runs = if level.level() > 0 {
        segment_runs(input)
    } else {
        vec![(input, true)]
    };
    let mut out = Vec::with_capacity(input.len() + input.len() / 16 + 64);
    let last = runs.len() - 1;
    for (i, (run, stored)) in runs.into_iter().enumerate() {
        let run_level = if stored {
            flate2::Compression::none()
        } else {
            level
        };
        let run_flush = if i == last {
            flush
        } else {
            FlushCompress::Sync
        };
        out.extend(raw_deflate(run, run_level, run_flush)?);
    }
    Ok((out, crc))
}

/// `chunk` cut into runs of consecutive segments that are all incompressible (`true`) or
/// all not; never empty (an empty chunk is one compressible run).
fn segment_runs(chunk: &[u8]) -> Vec<(&[u8], bool)> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut run_stored = false;
    for (i, segment) in chunk.chunks(SEGMENT).enumerate() {
        let stored = incompressible(segment);
        if i > 0 && stored != run_stored {
            runs.push((&chunk[start..i * SEGMENT], run_stored));
            start = i * SEGMENT;
        }
        run_stored = stored;
    }
    runs.push((&chunk[start..], run_stored));
    runs
}

/// Whether `segment`'s bytes are spread so evenly over all values that deflate cannot gain
/// (see `EVEN_SPREAD_SIXTEENTHS`). Segments shorter than a full one are always deflated:
/// too few bytes to judge, and too few to matter.
fn incompressible(segment: &[u8]) -> bool {
    if segment.len() < SEGMENT {
        return false;
    }
    // Four tables, so consecutive bytes do not wait on each other's counter.
    let mut counts = [[0u32; 256]; 4];
    for quad in segment.chunks_exact(4) {
        for (table, &byte) in counts.iter_mut().zip(quad) {
            table[usize::from(byte)] += 1;
        }
    }
    let squares: u64 = (0..256)
        .map(|value| {
            let count = u64::from(counts.iter().map(|table| table[value]).sum::<u32>());
            count * count
        })
        .sum();
    let n = segment.len() as u64;
    // squares / n² <= (EVEN_SPREAD_SIXTEENTHS / 16) / 256
    squares * 256 * 16 <= n * n * EVEN_SPREAD_SIXTEENTHS
}

/// Raw deflate of `input` at `level`, ended by `flush`.
fn raw_deflate(
    input: &[u8],
    level: flate2::Compression,
    flush: FlushCompress,
) -> io::Result<Vec<u8>> {
    let mut compress = Compress::new(level, false);
    let mut out = Vec::with_capacity(input.len() + input.len() / 16 + 64);
    loop {
        let consumed = usize::try_from(compress.total_in()).map_err(io::Error::other)?;
        let status = compress
            .compress_vec(&input[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = usize::try_from(compress.total_in()).map_err(io::Error::other)? == input.len();
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => all_in && out.len() < out.capacity(),
        };
        if done {
            return Ok(out);
        }
        out.reserve(out.capacity().max(64));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Half pseudo-random bytes (incompressible), half repetitive text.
    fn mixed_input(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|i| {
                if (i / 4096) % 2 == 0 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                } else {
                    b"layer tar bytes "[i % 16]
                }
            })
            .collect()
    }

    fn compress(input: &[u8], workers: usize) -> Vec<u8> {
        let mut encoder =
            ParallelGzEncoder::with_workers(Vec::new(), flate2::Compression::default(), workers);
        // Uneven write sizes, so chunking cannot depend on how the caller writes.
        for piece in input.chunks(77_777) {
            encoder.write_all(piece).unwrap();
        }
        encoder.finish().unwrap()
    }

    /// Decompresses with a single-member reader, so a second member would be an error.
    fn gunzip(gzip: &[u8]) -> Vec<u8> {
        let mut decoder = flate2::read::GzDecoder::new(gzip);
        let mut output = Vec::new();
        decoder.read_to_end(&mut output).unwrap();
        let mut rest = Vec::new();
        decoder.into_inner().read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "{} bytes after the gzip member",
            rest.len()
        );
        output
    }

    #[test]
    fn round_trips_at_every_interesting_length() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12_345] {
            let input = mixed_input(len);
            assert_eq!(gunzip(&compress(&input, 2)), input, "length {len}");
        }
    }

    #[test]
    fn output_is_the_same_for_every_thread_count() {
        let input = mixed_input(5 * CHUNK + 999);
        let one = compress(&input, 1);
        assert_eq!(compress(&input, 2), one);
        assert_eq!(compress(&input, 4), one);
        assert_eq!(compress(&input, 4), one);
    }

    #[test]
    fn compresses_repetitive_input() {
        let input = b"abcdefgh".repeat(CHUNK);
        let gzip = compress(&input, 2);
        assert!(gzip.len() < input.len() / 50, "{} bytes", gzip.len());
        assert_eq!(gunzip(&gzip), input);
    }

    fn random_bytes(len: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    /// Stored blocks cost 5 header bytes per 64 KiB of input, plus a little per run.
    fn stored_size(len: usize) -> usize {
        len + len / 65_535 * 5 + 64
    }

    #[test]
    fn random_chunks_are_stored_and_compressible_ones_deflated() {
        let mut input = random_bytes(2 * CHUNK);
        input.extend(b"compressible text ".repeat(CHUNK / 8));
        let gzip = compress(&input, 2);
        assert_eq!(gunzip(&gzip), input);
        assert!(
            gzip.len() <= stored_size(2 * CHUNK) + CHUNK / 20,
            "{}",
            gzip.len()
        );
        assert!(incompressible(&input[..SEGMENT]));
        assert!(!incompressible(&input[2 * CHUNK..2 * CHUNK + SEGMENT]));
        assert!(
            !incompressible(&input[..SEGMENT - 1]),
            "a short segment is deflated"
        );
    }

    #[test]
    fn the_random_part_of_a_mixed_chunk_is_stored_and_the_rest_deflated() {
        // Text, random, text inside one chunk, cut off the segment grid.
        let text = b"line 000123 of a compressible log file\n".repeat(CHUNK / 40 / 3);
        let mut input = text.clone();
        input.extend(random_bytes(CHUNK / 3));
        input.extend(&text);
        let gzip = compress(&input, 2);
        assert_eq!(gunzip(&gzip), input);
        let random_segments = CHUNK / 3 / SEGMENT - 1;
        assert!(
            gzip.len() <= stored_size(CHUNK / 3) + CHUNK / 40,
            "{} bytes",
            gzip.len()
        );
        let runs = segment_runs(&input);
        assert_eq!(runs.iter().map(|r| r.0.len()).sum::<usize>(), input.len());
        let stored: usize = runs.iter().filter(|r| r.1).map(|r| r.0.len()).sum();
        assert!(stored >= random_segments * SEGMENT, "{stored} bytes stored");
        assert!(stored <= CHUNK / 3, "{stored} bytes stored");
    }

    /// The bytes every machine must produce for this input, whatever its CPU offers zlib-rs
    /// (SIMD match comparison and CRC folding must not change the output): exported layer
    /// digests depend on it.
    #[test]
    fn the_output_is_pinned() {
        let mut input = mixed_input(3 * CHUNK + 4321);
        input.extend(random_bytes(CHUNK));
        let gzip = compress(&input, 2);
        let digest = rbuild_oci::Digest::of(&gzip).to_string();
        assert_eq!(
            digest,
            "sha256:d3016bace5ecb8b37bf26002e4e42694931d9e95cee5baf1df827422a63fd559"
        );
    }

    #[test]
    fn a_writer_error_is_reported() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut encoder = ParallelGzEncoder::with_workers(Full, flate2::Compression::fast(), 2);
        let input = mixed_input(3 * CHUNK);
        let result = encoder
            .write_all(&input)
            .and_then(|()| encoder.finish().map(drop));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::StorageFull);
    }
}

//! Parallel, deterministic gzip: a writer that cuts its input into fixed-size chunks,
//! deflates the chunks on a small thread pool and writes them, in order, as one gzip member
//! (the pigz layout: each chunk a raw deflate run ended by a sync flush, the last one
//! finished; one header; the CRC-32 of every chunk combined into one trailer).
//!
//! Chunk boundaries depend only on the byte count, and each chunk is deflated on its own
//! (no dictionary carried over), so the output is the same for every thread count and
//! timing. A chunk whose two probe windows (its first and last 32 KiB) deflate to no less
//! than 99% of their size — random, encrypted or already compressed bytes — is written as
//! stored blocks instead: deflate spends most of its time on such data and gains nothing.
//! The probe depends only on the chunk's bytes, so this keeps the output deterministic. At most a few chunks per thread are in flight, so memory stays bounded however
//! long the stream is. It does not decompress; any gzip reader does that.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::sync::mpsc::{sync_channel, Receiver};

use flate2::{Compress, Crc, FlushCompress, Status};

/// Bytes of input per chunk; fixed, because the output depends on it.
pub(crate) const CHUNK: usize = 1 << 20;
/// Chunks in flight per worker thread before the writer waits for the oldest.
const IN_FLIGHT_PER_WORKER: usize = 2;
/// Bytes deflated from each end of a chunk to decide whether the chunk is worth deflating.
const PROBE: usize = 32 << 10;
/// A probe that keeps more than this many parts per thousand of its size marks its chunk
/// incompressible.
const INCOMPRESSIBLE_PER_MILLE: usize = 990;
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
/// byte-aligned for the next chunk, `Finish` ends it), with the chunk's CRC-32.
fn deflate_chunk(input: &[u8], level: flate2::Compression, flush: FlushCompress) -> Deflated {
    let mut crc = Crc::new();
    crc.update(input);
    let level = if level.level() > 0 && incompressible(input)? {
        flate2::Compression::none()
    } else {
        level
    };
    Ok((raw_deflate(input, level, flush)?, crc))
}

/// Whether both ends of `chunk` deflate (fastest level) to at least 99% of their size.
/// Chunks too short to probe are deflated.
fn incompressible(chunk: &[u8]) -> io::Result<bool> {
    if chunk.len() < 2 * PROBE {
        return Ok(false);
    }
    for window in [&chunk[..PROBE], &chunk[chunk.len() - PROBE..]] {
        let deflated = raw_deflate(window, flate2::Compression::fast(), FlushCompress::Finish)?;
        if deflated.len() * 1000 < window.len() * INCOMPRESSIBLE_PER_MILLE {
            return Ok(false);
        }
    }
    Ok(true)
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

    #[test]
    fn random_chunks_are_stored_and_compressible_ones_deflated() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut random: Vec<u8> = (0..2 * CHUNK)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        random.extend(b"compressible text ".repeat(CHUNK / 8));
        let gzip = compress(&random, 2);
        assert_eq!(gunzip(&gzip), random);
        // Stored random chunks cost a few header bytes per 64 KiB block; the text deflates.
        let stored_overhead = 2 * CHUNK / 65_535 * 5 + 64;
        assert!(
            gzip.len() <= 2 * CHUNK + stored_overhead + CHUNK / 20,
            "{}",
            gzip.len()
        );
        assert!(incompressible(&random[..CHUNK]).unwrap());
        assert!(!incompressible(&random[2 * CHUNK..3 * CHUNK]).unwrap());
        // A chunk that is random at one end only is still deflated.
        let mut half = random[..CHUNK / 2].to_vec();
        half.extend(&random[2 * CHUNK..2 * CHUNK + CHUNK / 2]);
        assert!(!incompressible(&half).unwrap());
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

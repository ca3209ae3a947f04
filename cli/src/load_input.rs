//! Where `rbuild load` reads from: a path (OCI layout directory, or a tar), `-i FILE`, or
//! stdin, as `docker load` takes them. A gzip- or zstd-compressed tar, and anything read
//! from stdin, is first written out as a plain tar in the store's scratch space (removed
//! afterwards), because the archive reader needs to seek.
//!
//! It does not read images; `rbuild_archive` does.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rbuild_cache::{ScratchDir, Store};

use crate::args::LoadArgs;
use crate::load::repository_from_path;

/// A readable archive path for the load, and how to name it in messages.
pub struct LoadInput {
    /// The path or `stdin`, for messages.
    pub label: String,
    /// The repository name an archive without full names gets.
    pub repository: String,
    path: PathBuf,
    _scratch: Option<ScratchDir>,
}

enum Compression {
    None,
    Gzip,
    Zstd,
}

impl LoadInput {
    pub fn open(store: &Store, args: &LoadArgs) -> Result<LoadInput> {
        match args.path.as_ref().or(args.input.as_ref()) {
            Some(path) => from_path(store, path),
            None => from_stdin(store),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn from_path(store: &Store, path: &Path) -> Result<LoadInput> {
    let label = path.display().to_string();
    let repository = repository_from_path(path);
    if path.is_dir() {
        return Ok(LoadInput {
            label,
            repository,
            path: path.to_path_buf(),
            _scratch: None,
        });
    }
    let file = File::open(path).with_context(|| format!("cannot load {label}"))?;
    let mut reader = BufReader::new(file);
    match sniff(&mut reader).with_context(|| format!("cannot read {label}"))? {
        Compression::None => Ok(LoadInput {
            label,
            repository,
            path: path.to_path_buf(),
            _scratch: None,
        }),
        compression => {
            let (scratch, plain) = spool(store, reader, compression)
                .with_context(|| format!("cannot decompress {label}"))?;
            Ok(LoadInput {
                label,
                repository,
                path: plain,
                _scratch: Some(scratch),
            })
        }
    }
}

fn from_stdin(store: &Store) -> Result<LoadInput> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        bail!("requested load from stdin, but stdin is a terminal: give a file (-i FILE) or redirect stdin");
    }
    let mut reader = BufReader::new(stdin.lock());
    let compression = sniff(&mut reader).context("cannot read stdin")?;
    let (scratch, plain) =
        spool(store, reader, compression).context("cannot read the archive from stdin")?;
    Ok(LoadInput {
        label: "stdin".to_string(),
        repository: "image".to_string(),
        path: plain,
        _scratch: Some(scratch),
    })
}

/// The compression whose magic number starts the stream (without consuming it).
fn sniff(reader: &mut impl BufRead) -> io::Result<Compression> {
    let head = reader.fill_buf()?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => Compression::None,
    })
}

/// Writes the stream, decompressed, to a plain tar in a fresh scratch dir.
fn spool(
    store: &Store,
    reader: impl BufRead,
    compression: Compression,
) -> Result<(ScratchDir, PathBuf)> {
    let scratch = store.scratch_dir("load")?;
    let path = scratch.path().join("archive.tar");
    let mut out = File::create(&path)?;
    let mut decoded: Box<dyn Read> = match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
    };
    io::copy(&mut decoded, &mut out)?;
    Ok((scratch, path))
}

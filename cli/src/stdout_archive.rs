//! Archives written to stdout (`rbuild save` without `-o`, `-o type=oci|docker,dest=-`):
//! the archive is staged in the store's scratch space and copied to stdout only once it is
//! whole, so a failure never hands a pipe's reader half an archive; a terminal is refused,
//! as docker and buildx refuse it.
//!
//! Writing the archive itself is the solver's; this module only stages and copies.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rbuild_cache::{ScratchDir, Store};

/// An archive on its way to stdout: written to `path()` first, then `send`.
pub struct StdoutArchive {
    scratch: ScratchDir,
}

impl StdoutArchive {
    /// Scratch space for one archive; fails when stdout is a terminal. `what` names the
    /// flag or command in the refusal.
    pub fn stage(store: &Store, what: &str) -> Result<StdoutArchive> {
        if io::stdout().is_terminal() {
            bail!(
                "cowardly refusing to write an archive to a terminal ({what}): \
                 name a file or redirect stdout"
            );
        }
        Ok(StdoutArchive {
            scratch: store.scratch_dir("stdout-archive")?,
        })
    }

    /// Where the archive is to be written.
    pub fn path(&self) -> PathBuf {
        self.scratch.path().join("archive.tar")
    }

    /// Copies the written archive to stdout; the scratch space goes when `self` drops.
    pub fn send(&self) -> Result<()> {
        copy_to_stdout(&self.path()).context("cannot write the archive to stdout")
    }
}

fn copy_to_stdout(path: &Path) -> io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut stdout = io::stdout().lock();
    io::copy(&mut file, &mut stdout)?;
    stdout.flush()
}

//! Where a build's context and Dockerfile come from, as `docker build` takes them: a
//! directory; a tar archive (plain or compressed) given as a path or as `-` on stdin; a
//! bare Dockerfile on stdin (`rbuild build - < Dockerfile`, empty context); or the
//! Dockerfile alone on stdin with `-f -`; or a git repository.
//!
//! Archives are extracted into the store's scratch space with ADD's rules (writes confined
//! to the directory) and removed when the build ends. A git URL (`https://…/repo.git#ref:subdir`,
//! `git://…`) is checked out as ADD checks git sources out, and removed likewise.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rbuild_cache::{ScratchDir, Store};
use rbuild_solver::graph::GitSource;

use crate::args::BuildArgs;

/// A context directory ready to build from, and a Dockerfile read from stdin if any.
pub struct PreparedContext {
    pub dir: PathBuf,
    pub dockerfile_text: Option<String>,
    _scratch: Option<ScratchDir>,
}

impl PreparedContext {
    pub fn prepare(store: &Store, args: &BuildArgs) -> Result<PreparedContext> {
        let dockerfile_on_stdin = args.file.as_deref() == Some(Path::new("-"));
        let context = args.context.as_path();
        if context == Path::new("-") {
            if dockerfile_on_stdin {
                bail!("the context and the Dockerfile cannot both come from stdin (-f - with context -)");
            }
            return from_stdin(store);
        }
        let dockerfile_text = match dockerfile_on_stdin {
            true => Some(read_stdin("the Dockerfile")?),
            false => None,
        };
        if !context.exists() {
            if let Some(parsed) = context.to_str().and_then(rbuild_frontend::git_context) {
                return from_git(store, parsed?, dockerfile_text);
            }
        }
        if context.is_file() {
            let (scratch, dir) = extract(store, context)?;
            return Ok(PreparedContext {
                dir,
                dockerfile_text,
                _scratch: Some(scratch),
            });
        }
        let dir = context
            .canonicalize()
            .with_context(|| format!("build context {} not found", context.display()))?;
        if !dir.is_dir() {
            bail!("build context {} is not a directory", dir.display());
        }
        Ok(PreparedContext {
            dir,
            dockerfile_text,
            _scratch: None,
        })
    }
}

/// `-`: a tar archive, or else a Dockerfile with an empty context, as docker reads it.
fn from_stdin(store: &Store) -> Result<PreparedContext> {
    let scratch = store.scratch_dir("stdin-context")?;
    let spooled = scratch.path().join("stdin");
    let mut file = File::create(&spooled)?;
    if io::stdin().is_terminal() {
        bail!(
            "the build context is `-` but stdin is a terminal: pipe a tar archive or a Dockerfile"
        );
    }
    io::copy(&mut io::stdin().lock(), &mut file).context("cannot read the context from stdin")?;
    let dir = scratch.path().join("context");
    fs::create_dir(&dir)?;
    let is_archive = rbuild_fileop::extract_archive(&spooled, &dir)
        .context("cannot extract the context archive from stdin")?;
    let dockerfile_text = match is_archive {
        true => None,
        false => Some(
            String::from_utf8(fs::read(&spooled)?)
                .context("stdin is neither a tar archive nor a UTF-8 Dockerfile")?,
        ),
    };
    Ok(PreparedContext {
        dir: dir.canonicalize()?,
        dockerfile_text,
        _scratch: Some(scratch),
    })
}

/// A git URL: the repository checked out at the reference's commit (as ADD does), built in
/// its subdirectory.
fn from_git(
    store: &Store,
    (source, subdir): (GitSource, String),
    dockerfile_text: Option<String>,
) -> Result<PreparedContext> {
    let (commit, checkout) = rbuild_solver::checkout_git_context(store, &source)
        .with_context(|| format!("cannot check out the build context {}", source.remote))?;
    let dir = checkout.path().join(&subdir);
    if !dir.is_dir() {
        bail!(
            "build context {}: {subdir:?} is not a directory at commit {commit}",
            source.remote
        );
    }
    Ok(PreparedContext {
        dir: dir.canonicalize()?,
        dockerfile_text,
        _scratch: Some(checkout),
    })
}

fn extract(store: &Store, archive: &Path) -> Result<(ScratchDir, PathBuf)> {
    let scratch = store.scratch_dir("archive-context")?;
    let dir = scratch.path().join("context");
    fs::create_dir(&dir)?;
    let extracted = rbuild_fileop::extract_archive(archive, &dir)
        .with_context(|| format!("cannot extract the build context {}", archive.display()))?;
    if !extracted {
        bail!(
            "build context {} is neither a directory nor a tar archive",
            archive.display()
        );
    }
    Ok((scratch, dir.canonicalize()?))
}

fn read_stdin(what: &str) -> Result<String> {
    if io::stdin().is_terminal() {
        bail!("{what} is `-` but stdin is a terminal");
    }
    let mut text = String::new();
    io::stdin()
        .lock()
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {what} from stdin"))?;
    Ok(text)
}

//! Executing one vertex whose key missed the cache: RUN in the sandbox, COPY/WORKDIR on a
//! private overlay mount, base images from the store. Each returns the snapshot chain of the
//! resulting root filesystem; committing the upper dir as a layer is the store's job.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use rbuild_cache::{SnapshotChain, Store, UpperDir};
use rbuild_exec::{LayerStack, OutputStream, SandboxError, SandboxSpec};
use rbuild_fileop::copy::{copy_into_root, make_dir_all, write_inline_files, CopyOptions};
use rbuild_fileop::patterns::PathPatterns;
use rbuild_fileop::select::{select_sources_excluding, SelectError, SelectOptions, SourceMatch};

use crate::error::StepFailure;
use crate::graph::{CopyOp, CopySource, MkdirOp, NetworkMode, RunOp, VertexId};
use crate::mounts::{provide, MountInputs};
use crate::progress::{LogStream, ProgressEvent, ProgressSink};

/// The hostname RUN steps see.
const SANDBOX_HOSTNAME: &str = "rbuild";
/// How many trailing output lines a failed RUN reports.
const OUTPUT_TAIL_LINES: usize = 10;

/// What executing a vertex needs from the solver.
pub(crate) struct StepContext<'a> {
    pub store: &'a Store,
    pub progress: &'a dyn ProgressSink,
    pub vertex: VertexId,
    pub epoch: Option<i64>,
}

/// A new, empty upper dir over `parent`'s snapshots: the overlay stack a step writes its
/// layer into. The upper dir is removed when dropped unless committed.
pub(crate) fn fresh_layer_over(
    store: &Store,
    parent: &SnapshotChain,
) -> Result<(UpperDir, LayerStack), StepFailure> {
    let layers = store.layers();
    let upper = layers.new_upper()?;
    let stack = LayerStack {
        lowers: layers.lower_dirs(parent)?,
        upper: upper.upper().to_path_buf(),
        work: upper.work().to_path_buf(),
    };
    Ok((upper, stack))
}

/// Runs a RUN step: its mounts provided, its command in the sandbox over `parent`, the
/// upper dir committed as the layer.
pub(crate) fn run(
    cx: &StepContext<'_>,
    op: &RunOp,
    parent: &SnapshotChain,
    mounts: &MountInputs<'_>,
) -> Result<SnapshotChain, StepFailure> {
    let (upper, rootfs) = fresh_layer_over(cx.store, parent)?;
    if let Some(command) = op.args.first() {
        rbuild_exec::check_architecture(&op.platform.architecture, &rootfs.lowers, command)?;
    }
    let provided = provide(op, mounts)?;
    let mut env = op.env.clone();
    env.extend(op.uncached_env.iter().cloned());
    env.extend(provided.env.iter().cloned());
    let spec = SandboxSpec {
        rootfs,
        args: op.args.clone(),
        env,
        cwd: op.cwd.clone(),
        user: op.user.clone(),
        hostname: SANDBOX_HOSTNAME.to_string(),
        network: sandbox_network(op.network),
        timeout: None,
        mounts: provided.mounts.clone(),
        resources: mounts.env.resources,
    };
    let mut tail = OutputTail::default();
    let outcome = rbuild_exec::run(&spec, &mounts.env.cancel, &mut |stream, bytes| {
        let stream = match stream {
            OutputStream::Stdout => LogStream::Stdout,
            OutputStream::Stderr => LogStream::Stderr,
        };
        tail.push(stream, bytes);
        cx.progress.event(ProgressEvent::Log {
            vertex: cx.vertex,
            stream,
            bytes: bytes.to_vec(),
        });
    })
    .map_err(|e| match e {
        SandboxError::Cancelled => StepFailure::interrupted(&mounts.env.cancel),
        other => other.into(),
    })?;
    drop(provided);
    if outcome.exit_code != 0 {
        return Err(StepFailure::CommandFailed {
            command: op.args.join(" "),
            exit_code: outcome.exit_code,
            output_tail: tail.lines(),
        });
    }
    Ok(cx.store.layers().commit(parent, upper, cx.epoch)?)
}

/// The graph's network modes in the sandbox: `default` is a namespace of its own with
/// user-mode NAT (see `rbuild_exec::NetworkMode::Default`; the engine turns it into `host`
/// before solving when no NAT program is installed).
fn sandbox_network(mode: NetworkMode) -> rbuild_exec::NetworkMode {
    match mode {
        NetworkMode::Default => rbuild_exec::NetworkMode::Default,
        NetworkMode::Host => rbuild_exec::NetworkMode::Host,
        NetworkMode::None => rbuild_exec::NetworkMode::None,
    }
}

/// Where a COPY reads from once its inputs are known.
pub(crate) enum CopyInput<'a> {
    /// Files selected before the copy: from a local context, or fetched (ADD from URLs and
    /// git repositories).
    Selected(&'a [SourceMatch]),
    /// Another vertex's root filesystem (`COPY --from`), with its stage's name.
    Chain {
        chain: &'a SnapshotChain,
        stage: Option<&'a str>,
    },
    Inline,
}

/// Applies a COPY: its first source from `input`, then its further parts (heredocs, and
/// `downloads` — the fetched files — for a remote part) in the same layer.
pub(crate) fn copy(
    cx: &StepContext<'_>,
    op: &CopyOp,
    parent: &SnapshotChain,
    input: CopyInput<'_>,
    downloads: &[SourceMatch],
) -> Result<SnapshotChain, StepFailure> {
    let (upper, stack) = fresh_layer_over(cx.store, parent)?;
    let read_only: Vec<Vec<PathBuf>> = match input {
        CopyInput::Chain { chain, .. } => vec![cx.store.layers().lower_dirs(chain)?],
        _ => Vec::new(),
    };
    rbuild_exec::with_mounted_layers(&stack, &read_only, |merged, sources| {
        apply_copy(op, merged, sources, &input)?;
        apply_more(op, merged, downloads)
    })??;
    Ok(cx.store.layers().commit(parent, upper, cx.epoch)?)
}

/// The copy options every part of `op` shares.
pub(crate) fn copy_options(op: &CopyOp, merged: &Path) -> Result<CopyOptions, StepFailure> {
    Ok(CopyOptions {
        owner: op
            .chown
            .as_deref()
            .map(|spec| resolve_chown(merged, spec))
            .transpose()?,
        mode: op.chmod,
        parents: op.parents,
        keep_source_owners: false,
        unpack_archives: op.unpack_archives,
        dest_is_dir_hint: op.path_count() > 1,
    })
}

fn apply_copy(
    op: &CopyOp,
    merged: &Path,
    sources: &[PathBuf],
    input: &CopyInput<'_>,
) -> Result<(), StepFailure> {
    let options = CopyOptions {
        // Files from another stage or an image keep their owners, as in BuildKit;
        // context files and heredocs belong to root.
        keep_source_owners: matches!(input, CopyInput::Chain { .. }),
        ..copy_options(op, merged)?
    };
    match input {
        CopyInput::Selected(matches) => copy_into_root(merged, &op.dest, matches, &options)?,
        CopyInput::Chain { stage, .. } => {
            let nothing_ignored = PathPatterns::default();
            let select = SelectOptions {
                excludes: &nothing_ignored,
                follow_top_symlinks: true,
                // BuildKit's AllowEmptyWildcard: a wildcard matching nothing copies nothing.
                allow_empty_wildcard: true,
            };
            let root = sources.first().map(PathBuf::as_path).unwrap_or(merged);
            let excludes = PathPatterns::new(&op.excludes)?;
            // The walk is parallel; rayon's global pool was started outside this mount
            // namespace and cannot see the source view, so it runs on a pool started here.
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .map_err(StepFailure::WorkerPool)?;
            let matches = pool
                .install(|| select_sources_excluding(root, &op.paths, &select, &excludes))
                .map_err(|e| match e {
                    SelectError::SourceNotFound { name } => StepFailure::NotInStage {
                        name,
                        stage: stage.unwrap_or("the source").to_string(),
                    },
                    e => e.into(),
                })?;
            copy_into_root(merged, &op.dest, &matches, &options)?
        }
        CopyInput::Inline => write_inline(merged, op, inline_files(&op.source), &options)?,
    }
    Ok(())
}

/// The further parts of `op` (heredocs, downloads), onto the same root after the first.
fn apply_more(op: &CopyOp, merged: &Path, downloads: &[SourceMatch]) -> Result<(), StepFailure> {
    for part in &op.more {
        let options = CopyOptions {
            unpack_archives: part.unpack_archives,
            ..copy_options(op, merged)?
        };
        match &part.source {
            CopySource::Inline(files) => write_inline(merged, op, files, &options)?,
            CopySource::Remote(_) => copy_into_root(merged, &op.dest, downloads, &options)?,
            CopySource::Context { .. } | CopySource::Vertex(_) => {}
        }
    }
    Ok(())
}

fn write_inline(
    merged: &Path,
    op: &CopyOp,
    files: &[crate::graph::InlineFile],
    options: &CopyOptions,
) -> Result<(), StepFailure> {
    let files: Vec<(String, Vec<u8>, u32)> = files
        .iter()
        .map(|f| (f.name.clone(), f.content.clone().into_bytes(), f.mode))
        .collect();
    Ok(write_inline_files(merged, &op.dest, &files, options)?)
}

fn inline_files(source: &CopySource) -> &[crate::graph::InlineFile] {
    match source {
        CopySource::Inline(files) => files,
        _ => &[],
    }
}

pub(crate) fn mkdir(
    cx: &StepContext<'_>,
    op: &MkdirOp,
    parent: &SnapshotChain,
) -> Result<SnapshotChain, StepFailure> {
    let (upper, stack) = fresh_layer_over(cx.store, parent)?;
    rbuild_exec::with_mounted_layers(&stack, &[], |merged, _| -> Result<(), StepFailure> {
        let owner = op
            .owner
            .as_deref()
            .map(|spec| resolve_chown(merged, spec))
            .transpose()?;
        make_dir_all(merged, &op.path, op.mode, owner)?;
        Ok(())
    })??;
    Ok(cx.store.layers().commit(parent, upper, cx.epoch)?)
}

/// `--chown` semantics: a name takes its uid and primary gid from the image's /etc/passwd; a
/// bare numeric uid also becomes the gid (unlike `USER`, where it would be gid 0).
fn resolve_chown(root: &Path, spec: &str) -> Result<(u32, u32), StepFailure> {
    let identity = rbuild_exec::resolve_user(root, spec)?;
    let numeric_user_alone = !spec.contains(':') && spec.parse::<u32>().is_ok();
    if numeric_user_alone {
        Ok((identity.uid, identity.uid))
    } else {
        Ok((identity.uid, identity.gid))
    }
}

/// The last lines a command printed, for the failure message.
#[derive(Default)]
struct OutputTail {
    lines: VecDeque<String>,
    /// Bytes after the last newline, per stream: stdout and stderr are separate pipes.
    partial: [Vec<u8>; 2],
}

impl OutputTail {
    fn push(&mut self, stream: LogStream, bytes: &[u8]) {
        let index = stream as usize;
        for &byte in bytes {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.partial[index]);
                self.keep(&line);
            } else {
                self.partial[index].push(byte);
            }
        }
    }

    fn keep(&mut self, line: &[u8]) {
        self.lines
            .push_back(String::from_utf8_lossy(line).into_owned());
        if self.lines.len() > OUTPUT_TAIL_LINES {
            self.lines.pop_front();
        }
    }

    fn lines(mut self) -> Vec<String> {
        for partial in std::mem::take(&mut self.partial) {
            if !partial.is_empty() {
                self.keep(&partial);
            }
        }
        self.lines.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_tail_keeps_the_last_lines_and_a_partial_one() {
        let mut tail = OutputTail::default();
        for i in 0..15 {
            tail.push(LogStream::Stdout, format!("line {i}\n").as_bytes());
        }
        tail.push(LogStream::Stdout, b"no newline");
        let lines = tail.lines();
        assert_eq!(lines.len(), OUTPUT_TAIL_LINES);
        assert_eq!(lines.first().map(String::as_str), Some("line 6"));
        assert_eq!(lines.last().map(String::as_str), Some("no newline"));
    }

    #[test]
    fn output_tail_keeps_the_streams_apart() {
        let mut tail = OutputTail::default();
        tail.push(LogStream::Stdout, b"half of out, ");
        tail.push(LogStream::Stderr, b"an error\n");
        tail.push(LogStream::Stdout, b"other half\n");
        assert_eq!(tail.lines(), ["an error", "half of out, other half"]);
    }
}

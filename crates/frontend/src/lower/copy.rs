//! COPY and ADD: expanded sources and destination, where files come from (the build
//! context with its .dockerignore, another stage or image, heredocs written in the
//! Dockerfile, or — ADD only — URLs and git repositories), `--chown`/`--chmod`/`--exclude`/
//! `--parents`/`--link`/`--checksum`/`--keep-git-dir`, and ADD's archive unpacking.
//!
//! Recognizing remote sources is `remote`'s job. Fetching, selecting and copying the files
//! happens when the solver runs the op.

use rbuild_graph::{CopyOp, CopyPart, CopySource, InlineFile, Op};

use crate::error::Fault;
use crate::instructions::{CopyInstruction, CopyKind, InlineSource};
use crate::shell::ShellLex;

use super::paths;
use super::remote::{remote_source, RemoteFlags, SourceKind};
use super::stage::StageState;
use super::stages::Command;
use super::vars::{expand_word, StageVars};
use super::Lowerer;

/// Mode of files written from heredocs, before `--chmod`.
const INLINE_FILE_MODE: u32 = 0o644;

impl Lowerer<'_, '_> {
    pub(super) fn copy(
        &mut self,
        state: &mut StageState,
        stage_index: usize,
        command: &Command,
        copy: &CopyInstruction,
    ) -> Result<(), Fault> {
        let words = ExpandedCopy::new(&self.lex, &state.vars, copy)?;
        check_sources(copy, &words.sources, words.checksum.as_deref())?;
        let chmod = words.chmod.as_deref().map(parse_chmod).transpose()?;
        let mut parts = self
            .source_parts(state, stage_index, copy, &words)?
            .into_iter();
        let first = parts
            .next()
            .ok_or_else(|| Fault::instruction(format!("{} has no source", copy.kind.keyword())))?;
        let op = Op::Copy(CopyOp {
            parent: state.vertex,
            source: first.source,
            paths: first.paths,
            dest: paths::copy_destination(state.workdir(), &words.dest),
            chown: words.chown.clone(),
            chmod,
            excludes: words.excludes.clone(),
            unpack_archives: first.unpack_archives,
            parents: copy.parents,
            link: copy.link,
            more: parts.collect(),
        });
        let name = self.step_name(state, command);
        let vertex = self.add_vertex(op, name, self.command_location(command))?;
        state.vertex = vertex;
        state
            .history
            .build_step(|| words.history_text(copy), vertex);
        Ok(())
    }
}

impl Lowerer<'_, '_> {
    /// The instruction's sources grouped by where they come from, in the order they are
    /// copied: local files (the context or `--from`), then remote sources, then heredocs.
    /// (BuildKit copies sources in the order written, heredocs last; only a local file and
    /// a download of the same name in one ADD would tell the orders apart.)
    fn source_parts(
        &mut self,
        state: &StageState,
        stage_index: usize,
        copy: &CopyInstruction,
        words: &ExpandedCopy,
    ) -> Result<Vec<CopyPart>, Fault> {
        let is_add = copy.kind == CopyKind::Add;
        let (remote, local): (Vec<&String>, Vec<&String>) = words
            .sources
            .iter()
            .partition(|source| SourceKind::of(source).is_remote());
        let mut parts = Vec::new();
        if !local.is_empty() {
            let source = match &copy.from {
                Some(from) => CopySource::Vertex(self.source_vertex(from, stage_index)?),
                None => self.context_source(),
            };
            parts.push(CopyPart {
                source,
                paths: local.into_iter().cloned().collect(),
                unpack_archives: is_add && copy.unpack.unwrap_or(true),
            });
        }
        if !remote.is_empty() {
            let (source, paths) = remote_sources(copy, words, &remote)?;
            parts.push(CopyPart {
                source,
                paths,
                // Downloads stay packed unless `--unpack` asks, as in BuildKit.
                unpack_archives: is_add && copy.unpack.unwrap_or(false),
            });
        }
        if !copy.inline.is_empty() {
            let files = inline_files(&state.vars, &copy.inline)?;
            let names = files.iter().map(|f| f.name.clone()).collect();
            parts.push(CopyPart {
                source: CopySource::Inline(files),
                paths: names,
                unpack_archives: false,
            });
        }
        Ok(parts)
    }
}

/// The words of a COPY/ADD after expansion (`--from` is never expanded).
struct ExpandedCopy {
    sources: Vec<String>,
    dest: String,
    chown: Option<String>,
    chmod: Option<String>,
    excludes: Vec<String>,
    checksum: Option<String>,
}

impl ExpandedCopy {
    fn new(
        lex: &ShellLex,
        vars: &StageVars,
        copy: &CopyInstruction,
    ) -> Result<ExpandedCopy, Fault> {
        let expand = |word: &String| expand_word(lex, word, vars);
        let expand_all = |words: &[String]| words.iter().map(expand).collect::<Result<Vec<_>, _>>();
        Ok(ExpandedCopy {
            sources: expand_all(&copy.sources)?,
            dest: expand(&copy.dest)?,
            chown: copy.chown.as_ref().map(expand).transpose()?,
            chmod: copy.chmod.as_ref().map(expand).transpose()?,
            excludes: expand_all(&copy.excludes)?,
            checksum: copy.checksum.as_ref().map(expand).transpose()?,
        })
    }

    /// BuildKit's history text: `COPY [--parents] [--chown=..] [--chmod=..] srcs.. dest`.
    fn history_text(&self, copy: &CopyInstruction) -> String {
        let mut text = copy.kind.keyword().to_string();
        if copy.parents {
            text.push_str(" --parents");
        }
        if let Some(chown) = &self.chown {
            text.push_str(&format!(" --chown={chown}"));
        }
        if let Some(chmod) = &self.chmod {
            text.push_str(&format!(" --chmod={chmod}"));
        }
        for source in &self.sources {
            text.push_str(&format!(" {source}"));
        }
        for inline in &copy.inline {
            text.push_str(&format!(" <<{}", inline.name));
        }
        text.push_str(&format!(" {}", self.dest));
        text
    }
}

/// Checks where the sources are: COPY reads no remote source, and `--checksum` goes with
/// exactly one remote source. ADD may mix remote sources, local files and heredocs.
fn check_sources(
    copy: &CopyInstruction,
    sources: &[String],
    checksum: Option<&str>,
) -> Result<(), Fault> {
    let keyword = copy.kind.keyword();
    let kinds: Vec<SourceKind> = sources.iter().map(|s| SourceKind::of(s)).collect();
    let first_remote = kinds.iter().position(|kind| kind.is_remote());
    if let (CopyKind::Copy, Some(index)) = (copy.kind, first_remote) {
        return Err(Fault::instruction(format!(
            "source can't be a {} for COPY",
            kinds[index].noun()
        ))
        .with_help("use ADD for remote sources, or copy a local file")
        .focus(&sources[index]));
    }
    let remote = first_remote.is_some();
    if checksum.is_some() {
        let message = if sources.len() != 1 {
            Some("checksum can't be specified for multiple sources")
        } else if !remote {
            Some("checksum requires HTTP(S) or Git sources")
        } else {
            None
        };
        if let Some(message) = message {
            return Err(Fault::instruction(message).focus("--checksum"));
        }
    }
    if copy.inline.is_empty() && sources.is_empty() {
        return Err(Fault::instruction(format!("{keyword} has no source")));
    }
    Ok(())
}

/// The fetch plan of an ADD's remote sources, and the path in each.
fn remote_sources(
    copy: &CopyInstruction,
    words: &ExpandedCopy,
    remote: &[&String],
) -> Result<(CopySource, Vec<String>), Fault> {
    let flags = RemoteFlags {
        checksum: words.checksum.as_deref(),
        keep_git_dir: copy.keep_git_dir,
    };
    let planned = remote
        .iter()
        .map(|source| remote_source(source, &flags).map_err(|fault| fault.focus(source)))
        .collect::<Result<Vec<_>, _>>()?;
    let (sources, paths) = planned.into_iter().unzip();
    Ok((CopySource::Remote(sources), paths))
}

/// `--chmod` as octal permission bits, at most `07777`.
fn parse_chmod(text: &str) -> Result<u32, Fault> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
        .ok_or_else(|| {
            Fault::instruction(format!(
                "invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777"
            ))
            .focus(text)
        })
}

/// Heredoc sources; bodies of unquoted delimiters are expanded.
fn inline_files(vars: &StageVars, inline: &[InlineSource]) -> Result<Vec<InlineFile>, Fault> {
    inline
        .iter()
        .map(|source| {
            let content = if source.expand {
                // BuildKit expands heredoc bodies with `\` as escape and quotes left alone.
                ShellLex::new('\\')
                    .skip_process_quotes(true)
                    .process_word(&source.content, vars)
                    .map_err(|e| Fault::instruction(e.to_string()))?
            } else {
                source.content.clone()
            };
            Ok(InlineFile {
                name: source.name.clone(),
                content,
                mode: INLINE_FILE_MODE,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_must_be_octal_up_to_07777() {
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert_eq!(parse_chmod("0644").unwrap(), 0o644);
        assert_eq!(parse_chmod("7777").unwrap(), 0o7777);
        for bad in ["999", "u+x", "17777", ""] {
            assert!(parse_chmod(bad).is_err(), "{bad}");
        }
    }
}

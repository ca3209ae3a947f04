//! COPY and ADD: expanded sources and destination, where files come from (the build
//! context with its .dockerignore, another stage or image, or heredocs written in the
//! Dockerfile), `--chown`/`--chmod`/`--exclude`/`--parents`/`--link`, and ADD's archive
//! unpacking.
//!
//! Remote sources (URLs, git) are refused: builds have no network. Selecting and copying
//! the files happens when the solver runs the op.

use rbuild_solver::graph::{CopyOp, CopySource, InlineFile, Op};

use crate::error::Fault;
use crate::instructions::{CopyInstruction, CopyKind, InlineSource};
use crate::shell::ShellLex;

use super::paths;
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
        let (source, paths) = if copy.inline.is_empty() {
            let source = match &copy.from {
                Some(from) => CopySource::Vertex(self.source_vertex(from, stage_index)?),
                None => self.context_source(),
            };
            (source, words.sources.clone())
        } else if words.sources.is_empty() {
            let files = inline_files(&state.vars, &copy.inline)?;
            let names = files.iter().map(|f| f.name.clone()).collect();
            (CopySource::Inline(files), names)
        } else {
            return Err(Fault::unsupported(format!(
                "{} mixing heredoc and file sources is not supported: split it into two instructions",
                copy.kind.keyword()
            )));
        };
        let op = Op::Copy(CopyOp {
            parent: state.vertex,
            source,
            paths,
            dest: paths::copy_destination(state.workdir(), &words.dest),
            chown: words.chown.clone(),
            chmod,
            excludes: words.excludes.clone(),
            unpack_archives: copy.kind == CopyKind::Add && copy.unpack.unwrap_or(true),
            parents: copy.parents,
            link: copy.link,
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

/// Refuses remote sources and misplaced `--checksum`.
fn check_sources(
    copy: &CopyInstruction,
    sources: &[String],
    checksum: Option<&str>,
) -> Result<(), Fault> {
    let keyword = copy.kind.keyword();
    for source in sources {
        let Some(kind) = remote_kind(source) else {
            continue;
        };
        return Err(match copy.kind {
            CopyKind::Copy => Fault::instruction(format!("source can't be a {kind} for COPY"))
                .with_help("use ADD for remote sources, or copy a local file"),
            CopyKind::Add => Fault::unsupported(format!(
                "ADD from a {kind} is not supported: no network during rbuild builds"
            ))
            .with_help("download the file into the build context and ADD or COPY it from there"),
        }
        .focus(source));
    }
    if checksum.is_some() {
        let message = if sources.len() != 1 {
            "checksum can't be specified for multiple sources"
        } else {
            "checksum requires HTTP(S) or Git sources"
        };
        return Err(Fault::instruction(message).focus("--checksum"));
    }
    if copy.inline.is_empty() && sources.is_empty() {
        return Err(Fault::instruction(format!("{keyword} has no source")));
    }
    Ok(())
}

/// `URL` or `git ref` when `source` is remote.
fn remote_kind(source: &str) -> Option<&'static str> {
    let lower = source.to_ascii_lowercase();
    let is_git = lower.starts_with("git://")
        || lower.starts_with("git@")
        || (lower.contains("://") && (lower.contains(".git#") || lower.ends_with(".git")));
    if is_git {
        Some("git ref")
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        Some("URL")
    } else {
        None
    }
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

    #[test]
    fn remote_sources_are_recognized() {
        assert_eq!(remote_kind("https://example.com/a.tgz"), Some("URL"));
        assert_eq!(
            remote_kind("https://github.com/moby/buildkit.git"),
            Some("git ref")
        );
        assert_eq!(
            remote_kind("git@github.com:moby/buildkit.git"),
            Some("git ref")
        );
        assert_eq!(remote_kind("src/app.git"), None);
        assert_eq!(remote_kind("./http"), None);
    }
}

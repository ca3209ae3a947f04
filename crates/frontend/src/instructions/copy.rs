//! COPY and ADD: sources, destination, inline (heredoc) sources and the flags each accepts.
//!
//! Remote sources and `--from` are only recorded here; whether they can be served is
//! decided when the instruction is lowered.

use crate::ast::{Heredoc, Node};
use crate::error::Fault;
use crate::parser::heredoc_marker;

use super::flags::{FlagKind, FlagSpec, Flags};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CopyKind {
    Copy,
    Add,
}

impl CopyKind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            CopyKind::Copy => "COPY",
            CopyKind::Add => "ADD",
        }
    }
}

/// A heredoc used as a source: `COPY <<EOF /dest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InlineSource {
    pub name: String,
    pub content: String,
    /// False when the delimiter was quoted: no variable expansion in the body.
    pub expand: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CopyInstruction {
    pub kind: CopyKind,
    pub sources: Vec<String>,
    pub inline: Vec<InlineSource>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub excludes: Vec<String>,
    pub parents: bool,
    pub checksum: Option<String>,
    pub keep_git_dir: Option<bool>,
    pub unpack: Option<bool>,
}

const COPY_FLAGS: FlagSpec = &[
    ("chown", FlagKind::Text),
    ("from", FlagKind::Text),
    ("chmod", FlagKind::Text),
    ("link", FlagKind::Bool),
    ("exclude", FlagKind::List),
    ("parents", FlagKind::Bool),
];

const ADD_FLAGS: FlagSpec = &[
    ("chown", FlagKind::Text),
    ("chmod", FlagKind::Text),
    ("link", FlagKind::Bool),
    ("exclude", FlagKind::List),
    ("keep-git-dir", FlagKind::Bool),
    ("checksum", FlagKind::Text),
    ("unpack", FlagKind::Bool),
];

pub(super) fn parse(node: Node, kind: CopyKind) -> Result<CopyInstruction, Fault> {
    let name = kind.keyword();
    if node.args.len() < 2 {
        return Err(Fault::instruction(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        )));
    }
    let spec = match kind {
        CopyKind::Copy => COPY_FLAGS,
        CopyKind::Add => ADD_FLAGS,
    };
    let flags = Flags::parse(&node.flags, spec)?;
    let mut words = node.args;
    let dest = words
        .pop()
        .ok_or_else(|| Fault::instruction(format!("{name} requires a destination")))?;
    if heredoc_marker(&dest).is_some() {
        return Err(Fault::instruction(format!(
            "{name} cannot accept a heredoc as a destination"
        )));
    }
    let mut sources = Vec::with_capacity(words.len());
    let mut inline = Vec::new();
    for word in words {
        match heredoc_marker(&word) {
            Some(marker) => inline.push(inline_source(&node.heredocs, &marker.name)?),
            None => sources.push(word),
        }
    }
    Ok(CopyInstruction {
        kind,
        sources,
        inline,
        dest,
        from: flags.text("from"),
        chown: flags.text("chown"),
        chmod: flags.text("chmod"),
        link: flags.enabled("link"),
        excludes: flags.list("exclude"),
        parents: flags.enabled("parents"),
        checksum: flags.text("checksum"),
        keep_git_dir: flags.switch("keep-git-dir"),
        unpack: flags.switch("unpack"),
    })
}

fn inline_source(heredocs: &[Heredoc], name: &str) -> Result<InlineSource, Fault> {
    let heredoc = heredocs
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| Fault::instruction(format!("heredoc {name:?} has no body")))?;
    Ok(InlineSource {
        name: heredoc.name.clone(),
        content: heredoc.content.clone(),
        expand: heredoc.expand,
    })
}

//! `FrontendError`: every way turning a Dockerfile into a build definition can fail. Each
//! variant carries a `Diagnostic` (file, line, column, the offending line and a hint such as
//! "did you mean build?") that the CLI renders.
//!
//! Also `Fault`, the crate-internal error of one instruction before it knows its position;
//! the lowering places it on the instruction's line. Rendering belongs to `diagnostic`.

use crate::diagnostic::{did_you_mean, Diagnostic};
use crate::parser::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    /// The Dockerfile is not valid syntax.
    #[error("{}", headline(.0))]
    Syntax(Box<Diagnostic>),
    /// An instruction, one of its flags or arguments is invalid.
    #[error("{}", headline(.0))]
    Instruction(Box<Diagnostic>),
    /// A stage named by `--target`, `--from`, `FROM` or an index does not exist or comes
    /// too late.
    #[error("{}", headline(.0))]
    Stage(Box<Diagnostic>),
    /// The image resolver could not provide a base image (or a `--from` image).
    #[error("{}", headline(.0))]
    BaseImage(Box<Diagnostic>),
    /// A Dockerfile feature rbuild deliberately does not provide (remote sources, insecure
    /// RUN).
    #[error("{}", headline(.0))]
    Unsupported(Box<Diagnostic>),
    /// A `.dockerignore` file could not be read or holds an invalid pattern (the diagnostic
    /// names the ignore file, and the pattern's line when it is one).
    #[error("{}", headline(.0))]
    Dockerignore(Box<Diagnostic>),
}

impl FrontendError {
    /// The diagnostic to show: file:line:col, the source line, the cause and a hint.
    pub fn diagnostic(&self) -> Diagnostic {
        match self {
            FrontendError::Syntax(d)
            | FrontendError::Instruction(d)
            | FrontendError::Stage(d)
            | FrontendError::BaseImage(d)
            | FrontendError::Unsupported(d)
            | FrontendError::Dockerignore(d) => (**d).clone(),
        }
    }

    /// Wraps a parser error of `file`.
    pub(crate) fn syntax(file: &str, source: &str, error: &ParseError) -> FrontendError {
        FrontendError::Syntax(Box::new(Diagnostic::from_parse_error(file, source, error)))
    }
}

fn headline(d: &Diagnostic) -> String {
    format!("{}: {}", d.location(), d.message)
}

/// Which `FrontendError` variant a `Fault` becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Instruction,
    Stage,
    BaseImage,
    Unsupported,
}

/// An error about one instruction, not yet placed in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub kind: FaultKind,
    pub message: String,
    pub help: Option<String>,
    /// Text on the instruction's line the caret should point at.
    pub focus: Option<String>,
}

impl Fault {
    fn new(kind: FaultKind, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
            help: None,
            focus: None,
        }
    }

    pub(crate) fn instruction(message: impl Into<String>) -> Fault {
        Fault::new(FaultKind::Instruction, message)
    }

    pub(crate) fn stage(message: impl Into<String>) -> Fault {
        Fault::new(FaultKind::Stage, message)
    }

    pub(crate) fn base_image(message: impl Into<String>) -> Fault {
        Fault::new(FaultKind::BaseImage, message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Fault {
        Fault::new(FaultKind::Unsupported, message)
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Fault {
        self.help = Some(help.into());
        self
    }

    /// Points the caret at the first occurrence of `text` on the line.
    pub(crate) fn focus(mut self, text: &str) -> Fault {
        if self.focus.is_none() && !text.is_empty() {
            self.focus = Some(text.to_string());
        }
        self
    }

    /// Adds "did you mean X?" when one of `candidates` is close to `word`; `show` formats
    /// the suggestion (e.g. adds `--` to a flag name).
    pub(crate) fn suggest<'a>(
        self,
        word: &str,
        candidates: impl IntoIterator<Item = &'a str>,
        show: impl Fn(&str) -> String,
    ) -> Fault {
        match did_you_mean(word, candidates) {
            Some(best) => self.with_help(format!("did you mean {}?", show(best))),
            None => self,
        }
    }

    /// Places the fault on `line` of `source` (the Dockerfile text named `file`).
    pub(crate) fn locate(self, file: &str, source: &str, line: usize) -> FrontendError {
        let text = source.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let column = self
            .focus
            .as_deref()
            .and_then(|focus| text.find(focus))
            .map(|byte| text[..byte].chars().count() + 1);
        let mut diagnostic = Diagnostic::from_source(file, source, line, column, self.message);
        diagnostic.help = self.help;
        let boxed = Box::new(diagnostic);
        match self.kind {
            FaultKind::Instruction => FrontendError::Instruction(boxed),
            FaultKind::Stage => FrontendError::Stage(boxed),
            FaultKind::BaseImage => FrontendError::BaseImage(boxed),
            FaultKind::Unsupported => FrontendError::Unsupported(boxed),
        }
    }
}

/// The Dockerfile being lowered: its name for messages and its text for source lines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SourceFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl SourceFile<'_> {
    /// Places `fault` on `line`.
    pub(crate) fn error(&self, fault: Fault, line: usize) -> FrontendError {
        fault.locate(self.name, self.text, line)
    }
}

//! The Dockerfile syntax tree: what the parser produces and `debug dump-ast` prints.
//!
//! It mirrors BuildKit's `parser.Node` so the golden files compare directly: one `Node` per
//! instruction with its flags, its arguments (BuildKit's `Next` chain), heredocs and line
//! span. Arguments are not expanded here; quotes are kept as written.

/// A parsed Dockerfile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives (`# syntax=`, `# escape=`, `# check=`), lowercased names.
    pub directives: Vec<Directive>,
    /// The escape character in effect (`\` or `` ` ``).
    pub escape: char,
    pub instructions: Vec<Node>,
    /// Non-fatal findings (e.g. empty continuation lines), with their line.
    pub warnings: Vec<Warning>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub message: String,
    pub line: usize,
}

/// One instruction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Lowercased keyword: `from`, `run`, `copy`, ...
    pub keyword: String,
    /// Flags as written, e.g. `--mount=type=cache,target=/root/.cache`.
    pub flags: Vec<String>,
    /// The arguments, as BuildKit's `Next` chain holds them (ENV/LABEL: key, value,
    /// separator triples; JSON form: the decoded strings; shell form: one string).
    pub args: Vec<String>,
    /// True when the arguments were given in JSON (exec) form.
    pub json: bool,
    /// Heredocs opened on this instruction's line, in order. For `ONBUILD RUN <<EOF` they
    /// are on both the `ONBUILD` node and its inner node.
    pub heredocs: Vec<Heredoc>,
    /// The instruction as written, continuation lines joined.
    pub original: String,
    /// First and last source line (1-based), continuations and heredoc bodies included.
    pub start_line: usize,
    pub end_line: usize,
    /// For ONBUILD: the instruction it registers (same span as the `ONBUILD` node).
    pub onbuild: Option<Box<Node>>,
}

/// A heredoc body (`<<EOF ... EOF`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The body, with leading tabs already stripped for `<<-`.
    pub content: String,
    /// False when the delimiter was quoted (`<<"EOF"`): no variable expansion.
    pub expand: bool,
    /// True for `<<-`.
    pub chomp: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), if any.
    pub file_descriptor: Option<u32>,
}

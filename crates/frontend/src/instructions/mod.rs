//! Typed instructions: each syntax-tree `Node` checked and turned into the instruction it
//! stands for (`FROM`, `RUN`, `COPY`, ...) with its flags validated, as BuildKit's
//! `instructions.ParseInstruction` does.
//!
//! Nothing is expanded here: words keep their `$VAR`s and quotes, because what they expand
//! to depends on the stage's ARG/ENV state at lowering time.

mod copy;
pub(crate) mod duration;
mod flags;
mod healthcheck;
pub(crate) mod mount;

use rbuild_oci::HealthConfig;

use crate::ast::{Heredoc, Node};
use crate::error::Fault;

pub(crate) use copy::{CopyInstruction, CopyKind, InlineSource};

use flags::{FlagKind, Flags};

/// Every instruction keyword, lowercase, for "did you mean" hints.
pub(crate) const KEYWORDS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Instruction {
    From(FromInstruction),
    Arg(Vec<ArgDeclaration>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    Run(RunInstruction),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Healthcheck(HealthConfig),
    Copy(CopyInstruction),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    Expose(Vec<String>),
    StopSignal(String),
    Onbuild(OnbuildInstruction),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FromInstruction {
    pub base: String,
    /// Lowercased stage name after `AS`.
    pub name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArgDeclaration {
    pub key: String,
    pub default: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyValue {
    pub key: String,
    pub value: String,
}

/// The command of RUN, CMD or ENTRYPOINT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommandLine {
    /// Exec form: the argv. Shell form: one string, the command line.
    pub args: Vec<String>,
    /// True for the shell form, which runs under the stage's SHELL.
    pub shell_form: bool,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunInstruction {
    pub command: CommandLine,
    /// `--mount` values as written.
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OnbuildInstruction {
    /// The trigger as BuildKit stores it in the image config's `OnBuild`.
    pub expression: String,
    /// The trigger, typed (checked when the ONBUILD is written, not when it fires).
    pub trigger: Box<Instruction>,
}

/// Instructions that accept flags; the others reject any.
const WITH_FLAGS: [&str; 5] = ["from", "run", "healthcheck", "copy", "add"];

/// Parses one syntax-tree node, taking its words over rather than copying them.
pub(crate) fn parse_instruction(node: Node) -> Result<Instruction, Fault> {
    let keyword = node.keyword.to_ascii_lowercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(unknown_instruction(&node));
    }
    if !WITH_FLAGS.contains(&keyword.as_str()) {
        Flags::parse(&node.flags, &[])?;
    }
    Ok(match keyword.as_str() {
        "from" => Instruction::From(parse_from(node)?),
        "arg" => Instruction::Arg(parse_arg(&node)?),
        "env" => Instruction::Env(key_values(node, "ENV")?),
        "label" => Instruction::Label(key_values(node, "LABEL")?),
        "maintainer" => Instruction::Maintainer(exactly_one(node, "MAINTAINER")?),
        "run" => Instruction::Run(parse_run(node)?),
        "cmd" => Instruction::Cmd(command_line(node, false)),
        "entrypoint" => Instruction::Entrypoint(command_line(node, true)),
        "shell" => Instruction::Shell(parse_shell(node)?),
        "healthcheck" => Instruction::Healthcheck(healthcheck::parse(&node)?),
        "copy" => Instruction::Copy(copy::parse(node, CopyKind::Copy)?),
        "add" => Instruction::Copy(copy::parse(node, CopyKind::Add)?),
        "workdir" => Instruction::Workdir(exactly_one(node, "WORKDIR")?),
        "user" => Instruction::User(exactly_one(node, "USER")?),
        "volume" => Instruction::Volume(parse_volume(&node)?),
        "expose" => Instruction::Expose(parse_expose(node)?),
        "stopsignal" => Instruction::StopSignal(exactly_one(node, "STOPSIGNAL")?),
        "onbuild" => Instruction::Onbuild(parse_onbuild(node)?),
        _ => return Err(unknown_instruction(&node)),
    })
}

fn unknown_instruction(node: &Node) -> Fault {
    let written = node
        .original
        .split_whitespace()
        .next()
        .unwrap_or(&node.keyword)
        .to_string();
    Fault::instruction(format!(
        "unknown instruction: {}",
        node.keyword.to_ascii_uppercase()
    ))
    .suggest(&node.keyword, KEYWORDS, str::to_ascii_uppercase)
    .focus(&written)
}

fn parse_from(node: Node) -> Result<FromInstruction, Fault> {
    let flags = Flags::parse(&node.flags, &[("platform", FlagKind::Text)])?;
    let name = match node.args.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return Err(Fault::instruction(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ))
                .focus(name));
            }
            Some(lower)
        }
        _ => {
            return Err(Fault::instruction(
                "FROM requires either one or three arguments",
            ))
        }
    };
    let Some(base) = node.args.into_iter().next() else {
        return Err(Fault::instruction(
            "FROM requires either one or three arguments",
        ));
    };
    Ok(FromInstruction {
        base,
        name,
        platform: flags.text("platform"),
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn parse_arg(node: &Node) -> Result<Vec<ArgDeclaration>, Fault> {
    if node.args.is_empty() {
        return Err(Fault::instruction("ARG requires at least one argument"));
    }
    node.args
        .iter()
        .map(|word| {
            let (key, default) = match word.split_once('=') {
                Some((key, value)) => (key, Some(value.to_string())),
                None => (word.as_str(), None),
            };
            if key.is_empty() {
                return Err(Fault::instruction("ARG names can not be blank"));
            }
            Ok(ArgDeclaration {
                key: key.to_string(),
                default,
            })
        })
        .collect()
}

/// ENV and LABEL: the parser hands (key, value, separator) triples.
fn key_values(node: Node, name: &str) -> Result<Vec<KeyValue>, Fault> {
    if node.args.is_empty() {
        return Err(Fault::instruction(format!(
            "{name} requires at least one argument"
        )));
    }
    if !node.args.len().is_multiple_of(3) {
        return Err(Fault::instruction(format!(
            "Bad input to {name}, too many arguments"
        )));
    }
    let mut words = node.args.into_iter();
    let mut pairs = Vec::with_capacity(words.len() / 3);
    while let (Some(key), Some(value), Some(_separator)) =
        (words.next(), words.next(), words.next())
    {
        if key.is_empty() {
            return Err(Fault::instruction(format!("{name} names can not be blank")));
        }
        pairs.push(KeyValue { key, value });
    }
    Ok(pairs)
}

fn exactly_one(node: Node, name: &str) -> Result<String, Fault> {
    let mut args = node.args;
    match args.pop() {
        Some(one) if args.is_empty() => Ok(one),
        _ => Err(Fault::instruction(format!(
            "{name} requires exactly one argument"
        ))),
    }
}

/// BuildKit's `handleJSONArgs`: the shell form is one command line.
pub(crate) fn command_line(node: Node, empty_as_none: bool) -> CommandLine {
    let args = if node.json {
        node.args
    } else if node.args.is_empty() && empty_as_none {
        Vec::new()
    } else {
        vec![node.args.join(" ")]
    };
    CommandLine {
        args,
        shell_form: !node.json,
        heredocs: node.heredocs,
    }
}

fn parse_run(node: Node) -> Result<RunInstruction, Fault> {
    let flags = Flags::parse(
        &node.flags,
        &[
            ("mount", FlagKind::List),
            ("network", FlagKind::Text),
            ("security", FlagKind::Text),
        ],
    )?;
    Ok(RunInstruction {
        command: command_line(node, false),
        mounts: flags.list("mount"),
        network: flags.text("network"),
        security: flags.text("security"),
    })
}

fn parse_shell(node: Node) -> Result<Vec<String>, Fault> {
    if node.args.is_empty() {
        return Err(Fault::instruction("SHELL requires at least one argument"));
    }
    if !node.json {
        return Err(
            Fault::instruction("SHELL requires the arguments to be in JSON form")
                .with_help(r#"write it as SHELL ["/bin/bash", "-c"]"#),
        );
    }
    Ok(node.args)
}

fn parse_volume(node: &Node) -> Result<Vec<String>, Fault> {
    if node.args.is_empty() {
        return Err(Fault::instruction("VOLUME requires at least one argument"));
    }
    node.args
        .iter()
        .map(|v| {
            let v = v.trim();
            if v.is_empty() {
                Err(Fault::instruction(
                    "VOLUME specified can not be an empty string",
                ))
            } else {
                Ok(v.to_string())
            }
        })
        .collect()
}

fn parse_expose(node: Node) -> Result<Vec<String>, Fault> {
    if node.args.is_empty() {
        return Err(Fault::instruction("EXPOSE requires at least one argument"));
    }
    let mut ports = node.args;
    ports.sort();
    Ok(ports)
}

fn parse_onbuild(node: Node) -> Result<OnbuildInstruction, Fault> {
    let Some(trigger) = node.onbuild else {
        return Err(Fault::instruction("ONBUILD requires at least one argument"));
    };
    match trigger.keyword.to_ascii_lowercase().as_str() {
        "onbuild" => {
            return Err(Fault::instruction(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ))
        }
        "maintainer" | "from" => {
            return Err(Fault::instruction(format!(
                "{} isn't allowed as an ONBUILD trigger",
                trigger.keyword.to_ascii_uppercase()
            )))
        }
        _ => {}
    }
    let mut expression = strip_keyword(&node.original, "onbuild").to_string();
    let heredocs = if node.heredocs.is_empty() {
        &trigger.heredocs
    } else {
        &node.heredocs
    };
    for heredoc in heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    Ok(OnbuildInstruction {
        expression,
        trigger: Box::new(parse_instruction(*trigger)?),
    })
}

/// `original` without its leading keyword and the blanks after it.
pub(crate) fn strip_keyword<'a>(original: &'a str, keyword: &str) -> &'a str {
    let trimmed = original.trim_start();
    match trimmed.get(..keyword.len()) {
        Some(head) if head.eq_ignore_ascii_case(keyword) => trimmed[keyword.len()..].trim_start(),
        _ => trimmed,
    }
}

#[cfg(test)]
mod tests;

//! Build stages: the instruction list split at each FROM, stage names and indexes, the
//! `--target` stage, and what `--from=` / `--mount=from=` names refer to (a stage by name
//! or index, otherwise an image).
//!
//! It decides nothing about images or variables; `prepare` resolves bases and needs.

use crate::ast::Node;
use crate::diagnostic::did_you_mean;
use crate::error::{Fault, FrontendError, SourceFile};
use crate::instructions::{mount, parse_instruction, FromInstruction, Instruction};

/// One instruction of a stage, typed, with where it was written.
#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub instruction: Instruction,
    /// First source line (for ONBUILD triggers: the FROM line of the stage running them).
    pub line: usize,
    pub end_line: usize,
    /// The instruction as written, for progress names.
    pub text: String,
    /// Registered by an ONBUILD of the base; runs right after FROM.
    pub triggered: bool,
}

impl Command {
    /// Types `node`; errors are placed on its line.
    pub(crate) fn parse(node: Node, file: &SourceFile) -> Result<Command, FrontendError> {
        let line = node.start_line;
        let end_line = node.end_line.max(line);
        let text = node.original.trim().to_string();
        let instruction = parse_instruction(node).map_err(|fault| file.error(fault, line))?;
        Ok(Command {
            instruction,
            line,
            end_line,
            text,
            triggered: false,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Stage {
    pub index: usize,
    pub name: Option<String>,
    pub from: FromInstruction,
    pub line: usize,
    pub end_line: usize,
    pub commands: Vec<Command>,
}

impl Stage {
    /// `name` or `stage-N`, as progress shows it.
    pub(crate) fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("stage-{}", self.index))
    }
}

/// What a `--from` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SourceRef {
    Stage(usize),
    Image(String),
}

/// The Dockerfile's stages and the ARGs written before the first FROM.
#[derive(Clone, Debug)]
pub(crate) struct StagePlan {
    pub meta_args: Vec<Command>,
    pub stages: Vec<Stage>,
}

impl StagePlan {
    /// Splits the instructions at each FROM, taking the nodes over.
    pub(crate) fn split(nodes: Vec<Node>, file: &SourceFile) -> Result<StagePlan, FrontendError> {
        let last_line = nodes.last().map_or(1, |n| n.start_line);
        let mut plan = StagePlan {
            meta_args: Vec::new(),
            stages: Vec::new(),
        };
        for node in nodes {
            let command = Command::parse(node, file)?;
            if let Instruction::From(from) = &command.instruction {
                plan.stages.push(Stage {
                    index: plan.stages.len(),
                    name: from.name.clone(),
                    from: from.clone(),
                    line: command.line,
                    end_line: command.end_line,
                    commands: Vec::new(),
                });
            } else if let Some(stage) = plan.stages.last_mut() {
                stage.commands.push(command);
            } else if matches!(command.instruction, Instruction::Arg(_)) {
                plan.meta_args.push(command);
            } else {
                return Err(file.error(
                    Fault::instruction("no build stage in current context").with_help(
                        "a Dockerfile must start with FROM (only ARG may come before it)",
                    ),
                    command.line,
                ));
            }
        }
        if plan.stages.is_empty() {
            return Err(file.error(
                Fault::instruction("dockerfile contains no stages to build"),
                last_line,
            ));
        }
        Ok(plan)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().filter_map(|s| s.name.as_deref())
    }

    /// The last stage named `name` (names are case-insensitive), as BuildKit looks them up.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .rposition(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// The stage `--target` names, or the last one. An unknown name has no line of its
    /// own: the error points at the stage it resembles, if any.
    pub(crate) fn target(
        &self,
        requested: Option<&str>,
        file: &SourceFile,
    ) -> Result<usize, FrontendError> {
        let Some(requested) = requested else {
            return Ok(self.stages.len() - 1);
        };
        if let Some(index) = self.find(requested) {
            return Ok(index);
        }
        let fault = Fault::stage(format!("target stage {requested:?} could not be found"));
        let lower = requested.to_ascii_lowercase();
        match did_you_mean(&lower, self.names()).and_then(|best| Some((best, self.find(best)?))) {
            Some((best, index)) => Err(file.error(
                fault
                    .with_help(format!("did you mean {best:?}?"))
                    .focus(best),
                self.stages[index].line,
            )),
            None => {
                let names: Vec<&str> = self.names().collect();
                let fault = if names.is_empty() {
                    fault.with_help("no stage is named: add `AS <name>` to a FROM line")
                } else {
                    fault.with_help(format!("named stages: {}", names.join(", ")))
                };
                Err(file.error(fault, 0))
            }
        }
    }

    /// What `--from=value` refers to.
    pub(crate) fn resolve_from(&self, value: &str) -> Result<SourceRef, Fault> {
        if value.contains('$') {
            return Err(Fault::stage(
                "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
            )
            .focus(value));
        }
        if let Ok(index) = value.parse::<usize>() {
            return if index < self.stages.len() {
                Ok(SourceRef::Stage(index))
            } else {
                Err(Fault::stage(format!("invalid stage index {index}")).focus(value))
            };
        }
        Ok(match self.find(value) {
            Some(index) => SourceRef::Stage(index),
            None => SourceRef::Image(value.to_string()),
        })
    }

    /// The stages and images `command` reads from (`COPY --from`, `RUN --mount=from=`).
    pub(crate) fn command_sources(&self, command: &Command) -> Result<Vec<SourceRef>, Fault> {
        let names: Vec<String> = match &command.instruction {
            Instruction::Copy(copy) => copy.from.iter().cloned().collect(),
            Instruction::Run(run) => run
                .mounts
                .iter()
                .filter(|spec| spec.to_ascii_lowercase().contains("from="))
                .filter_map(|spec| mount::parse_mount(spec, &mut |v: &str| Ok(v.to_string())).ok())
                .filter_map(|m| m.from)
                .collect(),
            _ => Vec::new(),
        };
        names.iter().map(|name| self.resolve_from(name)).collect()
    }

    /// Rejects a reference to a stage that is not lowered before `current`.
    pub(crate) fn check_order(&self, source: usize, current: usize) -> Result<(), Fault> {
        if source < current {
            return Ok(());
        }
        let name = self.stages[source].label();
        Err(Fault::stage(format!(
            "cannot copy from stage {name:?}, it needs to be defined before current stage {:?}",
            self.stages[current].label()
        ))
        .focus(&name))
    }
}

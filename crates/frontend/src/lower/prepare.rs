//! Preparing the stages the target needs, and only those: each needed stage's base
//! (scratch, an earlier stage, or an image asked of the resolver), its platform, and the
//! ONBUILD triggers its base registered; then the stages it reads from.
//!
//! Stages nobody needs are never resolved, so an unused stage with an unknown base image
//! does not fail the build. Lowering the commands is `dispatch`'s job.

use rbuild_oci::{ImageReference, Platform};

use crate::error::{Fault, FrontendError, SourceFile};
use crate::instructions::{parse_instruction, strip_keyword, Instruction, OnbuildInstruction};
use crate::parser;
use crate::shell::ShellLex;

use super::args::GlobalArgs;
use super::images::BaseImages;
use super::stages::{Command, SourceRef, Stage, StagePlan};
use super::vars::expand_word;

/// Where a stage starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    Scratch,
    Stage(usize),
    Image(ImageReference),
}

#[derive(Clone, Debug)]
pub(crate) struct PreparedStage {
    pub base: Base,
    /// The stage's platform; `None` for a stage based on another (it inherits that one's).
    pub platform: Option<Platform>,
    /// ONBUILD triggers of the base; they run before the stage's own commands.
    pub triggers: Vec<Command>,
}

/// What `prepare` needs from the build.
pub(crate) struct Preparation<'a, 'r> {
    pub plan: &'a StagePlan,
    pub file: SourceFile<'a>,
    pub lex: &'a ShellLex,
    pub global: &'a GlobalArgs,
    pub default_platform: &'a Platform,
    pub images: &'a mut BaseImages<'r>,
}

impl Preparation<'_, '_> {
    /// Prepares `target` and every stage it needs; `None` for the others.
    pub(crate) fn run(
        &mut self,
        target: usize,
    ) -> Result<Vec<Option<PreparedStage>>, FrontendError> {
        let plan = self.plan;
        let file = self.file;
        let count = plan.stages.len();
        let mut needed = vec![false; count];
        let mut prepared: Vec<Option<PreparedStage>> = vec![None; count];
        needed[target] = true;
        // Stages only read from earlier stages, so walking backwards sees every need
        // before the stage needed.
        for index in (0..=target).rev() {
            if !needed[index] {
                continue;
            }
            let stage = &plan.stages[index];
            let ready = self.prepare_stage(stage)?;
            if let Base::Stage(base) = ready.base {
                needed[base] = true;
            }
            for command in ready.triggers.iter().chain(&stage.commands) {
                let sources = plan
                    .command_sources(command)
                    .map_err(|fault| file.error(fault, command.line))?;
                for source in sources {
                    if let SourceRef::Stage(used) = source {
                        plan.check_order(used, index)
                            .map_err(|fault| file.error(fault, command.line))?;
                        needed[used] = true;
                    }
                }
            }
            prepared[index] = Some(ready);
        }
        Ok(prepared)
    }

    fn prepare_stage(&mut self, stage: &Stage) -> Result<PreparedStage, FrontendError> {
        let file = self.file;
        let located = |fault: Fault| file.error(fault, stage.line);
        let base = self.base(stage).map_err(located)?;
        let (platform, triggers) = match &base {
            Base::Scratch => (Some(self.platform(stage).map_err(located)?), Vec::new()),
            Base::Stage(index) => (None, stage_triggers(&self.plan.stages[*index], stage.line)),
            Base::Image(reference) => {
                let platform = self.platform(stage).map_err(located)?;
                let triggers = self.image_triggers(stage, reference, &platform)?;
                (Some(platform), triggers)
            }
        };
        Ok(PreparedStage {
            base,
            platform,
            triggers,
        })
    }

    /// The FROM name expanded with the global ARGs, then looked up among earlier stages.
    fn base(&self, stage: &Stage) -> Result<Base, Fault> {
        let written = &stage.from.base;
        let name = expand_word(self.lex, written, self.global)?;
        if name.is_empty() {
            return Err(
                Fault::instruction(format!("base name ({written}) should not be blank"))
                    .focus(written),
            );
        }
        if name == "scratch" {
            return Ok(Base::Scratch);
        }
        let lower = name.to_ascii_lowercase();
        if let Some(index) = self.plan.stages[..stage.index]
            .iter()
            .rposition(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Ok(Base::Stage(index));
        }
        ImageReference::parse(&name).map(Base::Image).map_err(|e| {
            Fault::base_image(format!("failed to parse stage name {name:?}: {e}"))
                .suggest(&lower, self.plan.names(), |s| format!("{s:?}"))
                .focus(written)
        })
    }

    /// `FROM --platform=...` expanded with the global ARGs, or the target platform.
    fn platform(&self, stage: &Stage) -> Result<Platform, Fault> {
        let Some(written) = &stage.from.platform else {
            return Ok(self.default_platform.clone());
        };
        let value = expand_word(self.lex, written, self.global)?;
        if value.is_empty() {
            return Err(Fault::instruction(format!(
                "empty platform value from expression {written}"
            ))
            .focus(written));
        }
        value.parse().map_err(|e| {
            Fault::instruction(format!("failed to parse platform {written}: {e}")).focus(written)
        })
    }

    /// Resolves the base image and parses the triggers its config registered.
    fn image_triggers(
        &mut self,
        stage: &Stage,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<Vec<Command>, FrontendError> {
        let plan = self.plan;
        let file = self.file;
        let resolved = self.images.resolve(reference, platform).map_err(|fault| {
            let lower = stage.from.base.to_ascii_lowercase();
            file.error(
                fault
                    .suggest(&lower, plan.names(), |s| format!("{s:?}"))
                    .focus(&stage.from.base),
                stage.line,
            )
        })?;
        let expressions = resolved.config.config.on_build.clone().unwrap_or_default();
        expressions
            .iter()
            .map(|expression| parse_trigger(expression, stage.line, &file))
            .collect()
    }
}

/// The ONBUILD instructions of `base`, to run in a stage built FROM it.
fn stage_triggers(base: &Stage, line: usize) -> Vec<Command> {
    base.commands
        .iter()
        .filter_map(|command| match &command.instruction {
            Instruction::Onbuild(OnbuildInstruction { trigger, .. }) => Some((command, trigger)),
            _ => None,
        })
        .map(|(command, trigger)| Command {
            instruction: (**trigger).clone(),
            line,
            end_line: line,
            text: strip_keyword(&command.text, "onbuild").to_string(),
            triggered: true,
        })
        .collect()
}

/// Parses one trigger of an image config's `OnBuild`; errors point at the FROM line.
fn parse_trigger(
    expression: &str,
    line: usize,
    file: &SourceFile,
) -> Result<Command, FrontendError> {
    let invalid = |message: String| {
        file.error(
            Fault::instruction(format!(
                "invalid ONBUILD trigger {expression:?} in base image: {message}"
            )),
            line,
        )
    };
    let parsed = parser::parse(expression).map_err(|e| invalid(e.to_string()))?;
    let mut nodes = parsed.instructions.into_iter();
    let (Some(node), None) = (nodes.next(), nodes.next()) else {
        return Err(invalid(
            "onbuild trigger should be a single expression".to_string(),
        ));
    };
    let text = node.original.trim().to_string();
    let instruction = parse_instruction(node).map_err(|fault| invalid(fault.message))?;
    if matches!(instruction, Instruction::From(_) | Instruction::Onbuild(_)) {
        return Err(invalid(
            "FROM and ONBUILD are not allowed as triggers".to_string(),
        ));
    }
    Ok(Command {
        instruction,
        line,
        end_line: line,
        text,
        triggered: true,
    })
}

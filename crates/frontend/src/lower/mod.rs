//! Lowering: from the parsed Dockerfile to a `BuildDefinition` — the graph of filesystem
//! operations for the target stage and everything it needs, plus the target's image config
//! and history.
//!
//! Expansion, ARG scoping and config evolution follow BuildKit's `dockerfile2llb`. The
//! lowering runs nothing and reads no files; base images are looked up through the caller's
//! `ImageResolver`.

mod args;
mod copy;
mod dispatch;
mod dot;
mod history;
mod images;
mod paths;
mod ports;
mod prepare;
mod progress;
mod remote;
mod run;
mod signals;
mod stage;
mod stages;
mod vars;

use std::collections::BTreeMap;

use rbuild_graph::{
    BuildDefinition, BuildGraph, NetworkMode, Op, SourceLocation, Vertex, VertexId,
};
use rbuild_oci::{Digest, ImageConfig, ImageReference, Platform};

use crate::error::{Fault, FrontendError, SourceFile};
use crate::parser;
use crate::shell::ShellLex;

pub use dot::graph_dot;
pub use remote::{git_context, GitContextError};

use args::GlobalArgs;
use images::BaseImages;
use prepare::{Base, Preparation, PreparedStage};
use progress::StepNames;
use stage::StageState;
use stages::{Command, StagePlan};

/// What a build asks of the frontend besides the Dockerfile itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Name used in messages, e.g. `Dockerfile`.
    pub dockerfile_name: String,
    /// `--build-arg`s; they override only ARGs the Dockerfile declares (and proxies).
    pub build_args: BTreeMap<String, String>,
    /// `--target`: the stage to build; the last stage when `None`.
    pub target: Option<String>,
    /// The platform built for (TARGETPLATFORM).
    pub platform: Platform,
    /// The platform the build runs on (BUILDPLATFORM).
    pub build_platform: Platform,
    /// `--label`s added to the target image.
    pub labels: BTreeMap<String, String>,
    /// Network of RUN steps that don't say otherwise.
    pub network: NetworkMode,
    /// `.dockerignore` patterns of the build context (see `read_dockerignore`).
    pub context_excludes: Vec<String>,
}

impl BuildOptions {
    /// Options for building `Dockerfile` natively for `platform`, with nothing else set.
    pub fn new(platform: Platform) -> BuildOptions {
        BuildOptions {
            dockerfile_name: "Dockerfile".to_string(),
            build_args: BTreeMap::new(),
            target: None,
            build_platform: platform.clone(),
            platform,
            labels: BTreeMap::new(),
            network: NetworkMode::Default,
            context_excludes: Vec::new(),
        }
    }
}

/// Finds base images (`FROM`, `COPY --from=<image>`); implemented by the engine on the
/// local store.
pub trait ImageResolver {
    /// The platform-specific image `reference` names, or the resolver's typed reason it
    /// can't be had (the diagnostic shows it with its causes).
    fn resolve(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> Result<ResolvedImage, ResolveError>;
}

/// Why a resolver could not produce a base image: its own error, kept with its sources.
pub type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// A resolved base image: the manifest it is pinned to and its config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedImage {
    pub manifest: Digest,
    pub config: ImageConfig,
}

/// Parses `dockerfile_source` and lowers the target stage (and the stages it needs) into
/// a build graph and the target's image template.
pub fn build_definition(
    dockerfile_source: &str,
    options: &BuildOptions,
    images: &dyn ImageResolver,
) -> Result<BuildDefinition, FrontendError> {
    let file = SourceFile {
        name: &options.dockerfile_name,
        text: dockerfile_source,
    };
    let dockerfile = parser::parse(dockerfile_source)
        .map_err(|e| FrontendError::syntax(file.name, dockerfile_source, &e))?;
    let lex = ShellLex::new(dockerfile.escape);
    let plan = StagePlan::split(dockerfile.instructions, &file)?;
    let target = plan.target(options.target.as_deref(), &file)?;
    let global = GlobalArgs::new(
        &options.build_args,
        &options.build_platform,
        &options.platform,
        plan.stages[target].name.as_deref().unwrap_or(""),
        &plan.meta_args,
        &lex,
        &file,
    )?;
    let mut images = BaseImages::new(images);
    let prepared = Preparation {
        plan: &plan,
        file,
        lex: &lex,
        global: &global,
        default_platform: &options.platform,
        images: &mut images,
    }
    .run(target)?;
    let produced = produced_stages(&prepared, target);
    let mut lowerer = Lowerer {
        file,
        options,
        plan: &plan,
        lex,
        global,
        images,
        graph: BuildGraph::new(),
        stages: vec![None; plan.stages.len()],
        produced,
        scratch: None,
    };
    for (index, stage) in prepared.into_iter().enumerate() {
        if let Some(stage) = stage {
            lowerer.lower_stage(index, stage)?;
        }
    }
    lowerer.finish(target)
}

/// The stages whose image (and so history) the build produces: the target and the stages
/// it is built FROM, transitively. Stages only copied from contribute files, nothing else.
fn produced_stages(prepared: &[Option<PreparedStage>], target: usize) -> Vec<bool> {
    let mut produced = vec![false; prepared.len()];
    let mut current = Some(target);
    while let Some(index) = current {
        produced[index] = true;
        current = match prepared[index].as_ref().map(|stage| &stage.base) {
            Some(Base::Stage(base)) => Some(*base),
            _ => None,
        };
    }
    produced
}

/// Lowers prepared stages one after the other into one graph. Its instruction handlers
/// live in `dispatch`, `run` and `copy`.
struct Lowerer<'a, 'r> {
    file: SourceFile<'a>,
    options: &'a BuildOptions,
    plan: &'a StagePlan,
    lex: ShellLex,
    global: GlobalArgs,
    images: BaseImages<'r>,
    graph: BuildGraph,
    /// Finished stages, by index.
    stages: Vec<Option<StageState>>,
    /// Which stages produce an image (see `produced_stages`).
    produced: Vec<bool>,
    scratch: Option<VertexId>,
}

impl Lowerer<'_, '_> {
    fn lower_stage(&mut self, index: usize, prepared: PreparedStage) -> Result<(), FrontendError> {
        let plan = self.plan;
        let stage = &plan.stages[index];
        let label = (plan.stages.len() > 1).then(|| stage.label());
        let from_image = matches!(prepared.base, Base::Image(_));
        let commands: Vec<&Command> = prepared.triggers.iter().chain(&stage.commands).collect();
        let names = StepNames::new(label, from_image, &commands);
        let location = self.location(stage.line, stage.end_line);
        let mut state = self
            .start_stage(&prepared, names, location, self.produced[index])
            .map_err(|fault| self.file.error(fault, stage.line))?;
        for command in commands {
            self.dispatch(&mut state, index, command)
                .map_err(|fault| self.file.error(fault, command.line))?;
        }
        self.stages[index] = Some(state);
        Ok(())
    }

    fn start_stage(
        &mut self,
        prepared: &PreparedStage,
        mut names: StepNames,
        location: SourceLocation,
        record_history: bool,
    ) -> Result<StageState, Fault> {
        let platform = prepared
            .platform
            .clone()
            .unwrap_or_else(|| self.options.platform.clone());
        let (vertex, config) = match &prepared.base {
            Base::Scratch => {
                let mut config = ImageConfig::scratch(&platform);
                // BuildKit's empty image starts in `/`.
                config.config.working_dir = Some("/".to_string());
                (self.scratch_vertex()?, config)
            }
            Base::Stage(base) => {
                return self.stages[*base]
                    .as_ref()
                    .map(|state| state.child(names, record_history))
                    .ok_or_else(|| Fault::stage(format!("stage {base} was not lowered")));
            }
            Base::Image(reference) => {
                let vertex = self.images.vertex(
                    &mut self.graph,
                    reference,
                    &platform,
                    |text| names.next(text, false),
                    Some(location),
                )?;
                let config = self.images.resolve(reference, &platform)?.config.clone();
                (vertex, config)
            }
        };
        Ok(StageState::from_config(
            vertex,
            platform,
            config,
            names,
            record_history,
        ))
    }

    fn scratch_vertex(&mut self) -> Result<VertexId, Fault> {
        if let Some(vertex) = self.scratch {
            return Ok(vertex);
        }
        let vertex = self.add_vertex(Op::Scratch, "scratch".to_string(), None)?;
        self.scratch = Some(vertex);
        Ok(vertex)
    }

    fn add_vertex(
        &mut self,
        op: Op,
        name: String,
        location: Option<SourceLocation>,
    ) -> Result<VertexId, Fault> {
        self.graph
            .add(Vertex { op, name, location })
            .map_err(|e| Fault::instruction(e.to_string()))
    }

    fn location(&self, start_line: usize, end_line: usize) -> SourceLocation {
        SourceLocation {
            file: self.file.name.to_string(),
            start_line,
            end_line,
        }
    }

    /// The progress name of the next step of `state`, made from `command`.
    fn step_name(&self, state: &mut StageState, command: &Command) -> String {
        let text = progress::display_text(&self.lex, &command.text, &state.vars);
        state.names.next(&text, command.triggered)
    }

    fn command_location(&self, command: &Command) -> Option<SourceLocation> {
        Some(self.location(command.line, command.end_line))
    }

    fn finish(mut self, target: usize) -> Result<BuildDefinition, FrontendError> {
        let state = self.stages[target].take().ok_or_else(|| {
            self.file
                .error(Fault::stage("the target stage was not lowered"), 0)
        })?;
        let vertex = state.vertex;
        let image = state.into_template(&self.options.labels);
        Ok(BuildDefinition {
            graph: self.graph,
            target: vertex,
            image,
        })
    }
}

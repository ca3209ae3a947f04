//! RUN: the argv (exec form as written; shell form, heredoc scripts and shebang heredocs as
//! BuildKit builds them), environment (ENV plus declared ARGs; proxies uncached), working
//! directory, user, network, and `--mount`s turned into graph mounts.
//!
//! What the command does is the sandbox's business; here it is only described.

use rbuild_graph::{
    CacheSharing, CopySource, InlineFile, NetworkMode, Op, RunMount, RunOp, VertexId,
};

use crate::error::Fault;
use crate::instructions::mount::{parse_mount, MountSpec, MountType};
use crate::instructions::RunInstruction;
use crate::parser::heredoc_marker;

use super::args::proxy_env;
use super::dispatch::{command_args, with_shell};
use super::paths;
use super::stage::StageState;
use super::stages::{Command, SourceRef};
use super::vars::expand_word;
use super::Lowerer;

/// Where a shebang heredoc script is mounted, as in BuildKit.
const HEREDOC_SCRIPT_DIR: &str = "/dev/pipes/";

impl Lowerer<'_, '_> {
    pub(super) fn run(
        &mut self,
        state: &mut StageState,
        stage_index: usize,
        command: &Command,
        run: &RunInstruction,
    ) -> Result<(), Fault> {
        let network = self.network(run.network.as_deref())?;
        check_security(run.security.as_deref())?;
        let RunArgv {
            args,
            mut mounts,
            summary,
        } = run_argv(state, run)?;
        for spec in &run.mounts {
            let parsed = parse_mount(spec, &mut |value: &str| {
                expand_word(&self.lex, value, &state.vars)
            })
            .map_err(|fault| fault.focus(spec))?;
            mounts.push(
                self.run_mount(state, stage_index, parsed)
                    .map_err(|f| f.focus(spec))?,
            );
        }
        let history = state
            .history
            .recording()
            .then(|| format!("RUN {}{}", state.vars.history_arg_prefix(), args.join(" ")));
        let env = state.vars.run_env();
        let uncached_env = undeclared_proxies(&self.options.build_args, &env);
        let op = Op::Run(RunOp {
            parent: state.vertex,
            args,
            env,
            uncached_env,
            cwd: state.workdir().to_string(),
            user: state.user(),
            network,
            platform: state.platform.clone(),
            mounts,
        });
        let mut name = self.step_name(state, command);
        if let Some(summary) = summary {
            name.push_str(&format!(" ({summary})"));
        }
        let vertex = self.add_vertex(op, name, self.command_location(command))?;
        state.vertex = vertex;
        state
            .history
            .build_step(|| history.unwrap_or_default(), vertex);
        Ok(())
    }

    fn network(&self, written: Option<&str>) -> Result<NetworkMode, Fault> {
        match written {
            None | Some("default") => Ok(self.options.network),
            Some("none") => Ok(NetworkMode::None),
            Some("host") => Ok(NetworkMode::Host),
            Some(other) => Err(
                Fault::instruction(format!("unsupported network mode {other:?}"))
                    .suggest(other, ["default", "none", "host"], str::to_string)
                    .focus(other),
            ),
        }
    }

    fn run_mount(
        &mut self,
        state: &StageState,
        stage_index: usize,
        spec: MountSpec,
    ) -> Result<RunMount, Fault> {
        let source = match &spec.from {
            Some(from) => Some(self.source_vertex(from, stage_index)?),
            None => None,
        };
        let source_path = paths::absolute("/", spec.source.as_deref().unwrap_or(""));
        Ok(match spec.kind {
            MountType::Bind => RunMount::Bind {
                target: mount_target(state, &spec)?,
                source: match source {
                    Some(vertex) => CopySource::Vertex(vertex),
                    None => self.context_source(),
                },
                source_path,
                read_write: !spec.read_only,
            },
            MountType::Cache => {
                let target = mount_target(state, &spec)?;
                RunMount::Cache {
                    id: spec.id.clone().unwrap_or_else(|| target.clone()),
                    target,
                    sharing: spec.sharing.unwrap_or(CacheSharing::Shared),
                    read_only: spec.read_only,
                    uid: spec.uid.unwrap_or(0),
                    gid: spec.gid.unwrap_or(0),
                    mode: spec.mode.unwrap_or(0o755),
                    from: source,
                    source_path,
                }
            }
            MountType::Tmpfs => RunMount::Tmpfs {
                target: mount_target(state, &spec)?,
                size: spec.size,
            },
            MountType::Secret => secret_mount(spec)?,
            MountType::Ssh => ssh_mount(spec)?,
        })
    }

    /// The vertex a `--from` (or `--mount=from=`) reads: an earlier stage or an image.
    pub(super) fn source_vertex(
        &mut self,
        from: &str,
        stage_index: usize,
    ) -> Result<VertexId, Fault> {
        match self.plan.resolve_from(from)? {
            SourceRef::Stage(index) => {
                self.plan.check_order(index, stage_index)?;
                self.stages[index]
                    .as_ref()
                    .map(|stage| stage.vertex)
                    .ok_or_else(|| Fault::stage(format!("stage {from:?} was not lowered")))
            }
            SourceRef::Image(name) => {
                let plan = self.plan;
                let explain = |fault: Fault| {
                    fault
                        .suggest(&name.to_ascii_lowercase(), plan.names(), |s| {
                            format!("{s:?}")
                        })
                        .focus(&name)
                };
                let reference = rbuild_oci::ImageReference::parse(&name).map_err(|e| {
                    explain(Fault::stage(format!("invalid from flag value {name}: {e}")))
                })?;
                let platform = self.options.platform.clone();
                self.images
                    .vertex(&mut self.graph, &reference, &platform, str::to_string, None)
                    .map_err(explain)
            }
        }
    }

    /// The build context, with its .dockerignore patterns.
    pub(super) fn context_source(&self) -> CopySource {
        CopySource::Context {
            name: "context".to_string(),
            excludes: self.options.context_excludes.clone(),
        }
    }
}

/// The proxy build args a RUN sees outside its cache key and history: those the stage does
/// not declare (a declared proxy ARG is an ordinary ARG, as in Docker).
fn undeclared_proxies(
    build_args: &std::collections::BTreeMap<String, String>,
    env: &[String],
) -> Vec<String> {
    let declared = |name: &str| {
        env.iter()
            .any(|entry| entry.split_once('=').is_some_and(|(key, _)| key == name))
    };
    let mut proxies = proxy_env(build_args.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    proxies.retain(|entry| !entry.split_once('=').is_some_and(|(key, _)| declared(key)));
    proxies
}

/// What a RUN executes.
struct RunArgv {
    args: Vec<String>,
    /// Mounts the argv itself needs (a shebang heredoc script).
    mounts: Vec<RunMount>,
    /// The heredoc summary BuildKit appends to the progress name.
    summary: Option<String>,
}

impl RunArgv {
    fn plain(args: Vec<String>) -> RunArgv {
        RunArgv {
            args,
            mounts: Vec::new(),
            summary: None,
        }
    }
}

fn run_argv(state: &StageState, run: &RunInstruction) -> Result<RunArgv, Fault> {
    let line = &run.command;
    let Some(first) = line.heredocs.first() else {
        return Ok(RunArgv::plain(command_args(state, line)));
    };
    if !line.shell_form || line.args.len() != 1 {
        return Err(Fault::instruction(format!(
            "parsing produced an invalid run command: {:?}",
            line.args
        )));
    }
    if heredoc_marker(line.args[0].trim()).is_none() {
        // `RUN python3 <<EOF`: hand the whole script, bodies included, to the shell.
        let mut script = line.args[0].clone();
        for heredoc in &line.heredocs {
            script.push('\n');
            script.push_str(&heredoc.content);
            script.push_str(&heredoc.name);
        }
        return Ok(RunArgv::plain(with_shell(state, &[script])));
    }
    let summary = Some(summarize_heredoc(&first.content));
    if first.content.starts_with("#!") {
        let mount = RunMount::Bind {
            target: HEREDOC_SCRIPT_DIR.to_string(),
            source: CopySource::Inline(vec![InlineFile {
                name: first.name.clone(),
                content: first.content.clone(),
                mode: 0o755,
            }]),
            source_path: "/".to_string(),
            read_write: false,
        };
        let script = format!("{HEREDOC_SCRIPT_DIR}{}", first.name);
        return Ok(RunArgv {
            args: with_shell(state, &[script]),
            mounts: vec![mount],
            summary,
        });
    }
    Ok(RunArgv {
        args: with_shell(state, std::slice::from_ref(&first.content)),
        mounts: Vec::new(),
        summary,
    })
}

/// First line of a heredoc, `...` when there are more.
fn summarize_heredoc(content: &str) -> String {
    let trimmed = content.trim();
    let mut lines = trimmed.lines();
    let first = lines.next().unwrap_or("").to_string();
    if lines.next().is_some() {
        format!("{first}...")
    } else {
        first
    }
}

fn check_security(written: Option<&str>) -> Result<(), Fault> {
    match written {
        None | Some("sandbox") => Ok(()),
        Some("insecure") => Err(Fault::unsupported(
            "RUN --security=insecure is not supported: every step runs in rbuild's sandbox",
        )),
        Some(other) => Err(
            Fault::instruction(format!("unsupported security mode {other:?}"))
                .suggest(other, ["sandbox", "insecure"], str::to_string)
                .focus(other),
        ),
    }
}

/// An absolute target: relative ones are inside the working directory; `/` is refused.
fn mount_target(state: &StageState, spec: &MountSpec) -> Result<String, Fault> {
    let target = paths::absolute(state.workdir(), spec.target.as_deref().unwrap_or(""));
    if target == "/" {
        return Err(Fault::instruction(format!(
            "invalid mount target {target:?}"
        )));
    }
    Ok(target)
}

fn secret_mount(spec: MountSpec) -> Result<RunMount, Fault> {
    let id = match (spec.id, spec.source, &spec.target) {
        (_, Some(source), _) => source,
        (Some(id), None, _) => id,
        (None, None, Some(target)) => paths::base_name(target),
        (None, None, None) => return Err(Fault::instruction("one of source, target required")),
    };
    let target = match (spec.target, &spec.env) {
        (Some(target), _) => Some(target),
        (None, Some(_)) => None,
        (None, None) => Some(format!("/run/secrets/{}", paths::base_name(&id))),
    };
    Ok(RunMount::Secret {
        id,
        target,
        env: spec.env,
        required: spec.required,
        mode: spec.mode.unwrap_or(0o400),
        uid: spec.uid.unwrap_or(0),
        gid: spec.gid.unwrap_or(0),
    })
}

fn ssh_mount(spec: MountSpec) -> Result<RunMount, Fault> {
    if spec.source.is_some() {
        return Err(Fault::instruction("ssh does not support source"));
    }
    Ok(RunMount::Ssh {
        id: spec.id.unwrap_or_else(|| "default".to_string()),
        target: spec.target,
        required: spec.required,
        mode: spec.mode.unwrap_or(0o600),
        uid: spec.uid.unwrap_or(0),
        gid: spec.gid.unwrap_or(0),
    })
}

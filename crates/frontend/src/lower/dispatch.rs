//! Applying one instruction to a stage: the metadata instructions that evolve the image
//! config (ENV, ARG, LABEL, CMD, ENTRYPOINT, SHELL, USER, WORKDIR, ...) with their history
//! entries, and the hand-off of RUN, COPY and ADD to their own modules.
//!
//! Every word of an instruction is expanded against the variables as they were before the
//! instruction (`ENV a=1 b=$a` sees the old `a`), and only for the instructions Docker
//! expands.

use std::collections::BTreeMap;

use rbuild_graph::{MkdirOp, Op};
use rbuild_oci::EmptyObject;

use crate::error::Fault;
use crate::instructions::{ArgDeclaration, CommandLine, Instruction, KeyValue};
use crate::shell::ShellLex;

use super::args::stage_arg_value;
use super::history::{go_list, go_port_map, go_quoted_list, healthcheck_text};
use super::paths;
use super::ports::parse_port_spec;
use super::signals::validate_signal;
use super::stage::StageState;
use super::stages::Command;
use super::vars::{expand_fields, expand_word, StageVars};
use super::Lowerer;

/// The shell of shell-form commands when SHELL was never set.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

impl Lowerer<'_, '_> {
    /// Applies `command` to the stage at `stage_index`.
    pub(super) fn dispatch(
        &mut self,
        state: &mut StageState,
        stage_index: usize,
        command: &Command,
    ) -> Result<(), Fault> {
        let lex = &self.lex;
        match &command.instruction {
            Instruction::From(_) => Err(Fault::instruction("FROM can't be used here")),
            Instruction::Arg(declarations) => self.declare_args(state, declarations),
            Instruction::Env(pairs) => {
                let pairs = expand_pairs(lex, &state.vars, pairs)?;
                for (key, value) in &pairs {
                    state.vars.env.set(key, value);
                }
                state
                    .history
                    .metadata(|| format!("ENV {}", join_pairs(&pairs)));
                Ok(())
            }
            Instruction::Label(pairs) => {
                let pairs = expand_pairs(lex, &state.vars, pairs)?;
                let labels = state.config.config.labels.get_or_insert_with(BTreeMap::new);
                labels.extend(pairs.iter().cloned());
                state
                    .history
                    .metadata(|| format!("LABEL {}", join_pairs(&pairs)));
                Ok(())
            }
            Instruction::Maintainer(name) => {
                state.config.author = Some(name.clone());
                state.history.metadata(|| format!("MAINTAINER {name}"));
                Ok(())
            }
            Instruction::Cmd(line) => {
                let args = command_args(state, line);
                state
                    .history
                    .metadata(|| format!("CMD {}", go_quoted_list(&args)));
                state.config.config.cmd = Some(args);
                state.config.config.args_escaped = Some(true);
                state.cmd_set = true;
                Ok(())
            }
            Instruction::Entrypoint(line) => {
                let args = command_args(state, line);
                state
                    .history
                    .metadata(|| format!("ENTRYPOINT {}", go_quoted_list(&args)));
                state.config.config.entrypoint = (!args.is_empty()).then_some(args);
                if !state.cmd_set {
                    state.config.config.cmd = None;
                }
                Ok(())
            }
            Instruction::Shell(shell) => {
                state
                    .history
                    .metadata(|| format!("SHELL {}", go_list(shell)));
                state.config.config.shell = Some(shell.clone());
                Ok(())
            }
            Instruction::Healthcheck(health) => {
                state.history.metadata(|| healthcheck_text(health));
                state.config.config.healthcheck = Some(health.clone());
                Ok(())
            }
            Instruction::User(user) => {
                let user = expand_word(lex, user, &state.vars)?;
                state.history.metadata(|| format!("USER {user}"));
                state.config.config.user = Some(user);
                Ok(())
            }
            Instruction::Volume(volumes) => volume(lex, state, volumes),
            Instruction::Expose(ports) => expose(lex, state, ports),
            Instruction::StopSignal(signal) => {
                let signal = expand_word(lex, signal, &state.vars)?;
                validate_signal(&signal).map_err(|e| Fault::instruction(e).focus(&signal))?;
                state.history.metadata(|| format!("STOPSIGNAL {signal}"));
                state.config.config.stop_signal = Some(signal);
                Ok(())
            }
            Instruction::Onbuild(onbuild) => {
                let triggers = state.config.config.on_build.get_or_insert_with(Vec::new);
                triggers.push(onbuild.expression.clone());
                Ok(())
            }
            Instruction::Workdir(path) => self.workdir(state, command, path),
            Instruction::Run(run) => self.run(state, stage_index, command, run),
            Instruction::Copy(copy) => self.copy(state, stage_index, command, copy),
        }
    }

    fn declare_args(
        &self,
        state: &mut StageState,
        declarations: &[ArgDeclaration],
    ) -> Result<(), Fault> {
        let mut shown = Vec::new();
        for declaration in declarations {
            let value = stage_arg_value(
                declaration,
                &self.options.build_args,
                &self.global,
                |word| expand_word(&self.lex, word, &state.vars),
            )?;
            state.vars.declare_arg(&declaration.key, value.as_deref());
            shown.push(match value {
                Some(value) => format!("{}={value}", declaration.key),
                None => declaration.key.clone(),
            });
        }
        state
            .history
            .metadata(|| format!("ARG {}", shown.join(" ")));
        Ok(())
    }

    /// WORKDIR: the new directory is created (owned by the current USER) as BuildKit does,
    /// except for `/`.
    fn workdir(
        &mut self,
        state: &mut StageState,
        command: &Command,
        path: &str,
    ) -> Result<(), Fault> {
        let path = expand_word(&self.lex, path, &state.vars)?;
        let dir = paths::workdir(state.workdir(), &path).map_err(Fault::instruction)?;
        state.config.config.working_dir = Some(dir.clone());
        if dir == "/" {
            state.history.metadata(|| format!("WORKDIR {dir}"));
            return Ok(());
        }
        let user = state.user();
        let op = Op::Mkdir(MkdirOp {
            parent: state.vertex,
            path: dir.clone(),
            mode: 0o755,
            owner: (!user.is_empty()).then_some(user),
        });
        let name = self.step_name(state, command);
        let vertex = self.add_vertex(op, name, self.command_location(command))?;
        state.vertex = vertex;
        state.history.layer(|| format!("WORKDIR {dir}"), vertex);
        Ok(())
    }
}

/// A CMD/ENTRYPOINT/RUN argv: the shell form wrapped in the stage's SHELL.
pub(crate) fn command_args(state: &StageState, line: &CommandLine) -> Vec<String> {
    if line.shell_form {
        with_shell(state, &line.args)
    } else {
        line.args.clone()
    }
}

/// `SHELL + [args joined]`, BuildKit's `withShell`.
pub(crate) fn with_shell(state: &StageState, args: &[String]) -> Vec<String> {
    let mut argv = match &state.config.config.shell {
        Some(shell) if !shell.is_empty() => shell.clone(),
        _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
    };
    argv.push(args.join(" "));
    argv
}

fn expand_pairs(
    lex: &ShellLex,
    vars: &StageVars,
    pairs: &[KeyValue],
) -> Result<Vec<(String, String)>, Fault> {
    pairs
        .iter()
        .map(|pair| {
            Ok((
                expand_word(lex, &pair.key, vars)?,
                expand_word(lex, &pair.value, vars)?,
            ))
        })
        .collect()
}

fn join_pairs(pairs: &[(String, String)]) -> String {
    let texts: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    texts.join(" ")
}

fn volume(lex: &ShellLex, state: &mut StageState, volumes: &[String]) -> Result<(), Fault> {
    let expanded = volumes
        .iter()
        .map(|v| expand_word(lex, v, &state.vars))
        .collect::<Result<Vec<_>, _>>()?;
    if expanded.iter().any(String::is_empty) {
        return Err(Fault::instruction(
            "VOLUME specified can not be an empty string",
        ));
    }
    add_keys(&mut state.config.config.volumes, &expanded);
    state
        .history
        .metadata(|| format!("VOLUME {}", go_list(&expanded)));
    Ok(())
}

fn expose(lex: &ShellLex, state: &mut StageState, written: &[String]) -> Result<(), Fault> {
    let mut ports = Vec::new();
    for word in written {
        for spec in expand_fields(lex, word, &state.vars)? {
            ports.extend(parse_port_spec(&spec).map_err(|e| Fault::instruction(e).focus(word))?);
        }
    }
    add_keys(&mut state.config.config.exposed_ports, &ports);
    state
        .history
        .metadata(|| format!("EXPOSE {}", go_port_map(&ports)));
    Ok(())
}

/// Adds `keys` to a config set (`Volumes`, `ExposedPorts`), creating it if absent.
fn add_keys(set: &mut Option<BTreeMap<String, EmptyObject>>, keys: &[String]) {
    set.get_or_insert_with(BTreeMap::new)
        .extend(keys.iter().map(|k| (k.clone(), EmptyObject {})));
}

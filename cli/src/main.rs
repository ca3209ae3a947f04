//! The `rbuild` binary: parses the command line, opens the store and runs the command.
//! Everything a user sees on failure is an `error: ...` message and a non-zero exit code.

mod args;
mod build;
mod build_notices;
mod cache_cmd;
mod cache_flags;
mod debug;
mod diagnostics;
mod explain_view;
mod images;
mod interrupt;
mod load;
mod progress;
mod secrets;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rbuild_cache::Store;

use crate::args::{Cli, Command, DebugCommand};

fn main() -> ExitCode {
    // A sandboxed RUN re-executes this binary as its init; that never returns here.
    rbuild_exec::init_hook();
    let cli = args::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Each cause once: a message that already quotes its source is not followed by
            // the source again.
            let text = rbuild_solver::cause_chain(error.as_ref());
            if text.starts_with("error") {
                eprintln!("{text}");
            } else {
                eprintln!("error: {text}");
            }
            interrupt::exit_code().unwrap_or(ExitCode::FAILURE)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Command::Debug(DebugCommand::DumpAst { file }) = &cli.command {
        return debug::dump_ast(file);
    }
    let store = open_store(cli.root)?;
    match &cli.command {
        Command::Build(build) => build::run(&store, build),
        Command::Images => images::run(&store),
        Command::Load(load) => load::run(&store, load),
        Command::Cache(command) => cache_cmd::run(&store, command),
        Command::Debug(DebugCommand::Graph(build)) => debug::graph(&store, build),
        Command::Debug(DebugCommand::DumpAst { .. }) => Ok(()),
    }
}

fn open_store(root: Option<PathBuf>) -> Result<Store> {
    let root = root.unwrap_or_else(default_root);
    Store::open(&root).with_context(|| format!("cannot open the store at {}", root.display()))
}

/// `/var/lib/rbuild` for root, `$XDG_DATA_HOME/rbuild` (or `~/.local/share/rbuild`) otherwise.
fn default_root() -> PathBuf {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/rbuild");
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(data).join("rbuild");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".local/share/rbuild")
}

//! The `rbuild` binary: parses the command line, opens the store and runs the command.
//! Everything a user sees on failure is an `error: ...` message and a non-zero exit code.

mod args;
mod build;
mod build_context;
mod build_metadata;
mod build_notices;
mod cache_cmd;
mod cache_flags;
mod debug;
mod diagnostics;
mod explain_view;
mod go_template;
mod history;
mod image_lookup;
mod image_names;
mod images;
mod inspect;
mod interrupt;
mod load;
mod load_input;
mod logs_cmd;
mod progress;
mod progress_json;
mod registry_cmd;
mod save;
mod secrets;
mod shell_help;
mod spec_fields;
mod stdout_archive;
mod step_logs;
mod system_info;
mod tty_view;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rbuild_cache::Store;

use crate::args::{Cli, Command, DebugCommand};

fn main() -> ExitCode {
    // A sandboxed RUN re-executes this binary as its init; that never returns here.
    rbuild_exec::init_hook();
    let cli = args::parse();
    install_log_subscriber(&cli);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Each cause once: a message that already quotes its source is not followed by
            // the source again.
            let text = rbuild_solver::cause_chain(error.as_ref());
            if progress_json::active() {
                progress_json::emit("error", serde_json::json!({ "error": text }));
            } else if text.starts_with("error") {
                eprintln!("{text}");
            } else {
                eprintln!("error: {text}");
            }
            interrupt::exit_code().unwrap_or(ExitCode::FAILURE)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Debug(DebugCommand::DumpAst { file }) => return debug::dump_ast(file),
        Command::Version => {
            system_info::version();
            return Ok(());
        }
        Command::Completion { shell } => {
            shell_help::completion(*shell);
            return Ok(());
        }
        Command::Man => return Ok(shell_help::man_page()?),
        _ => {}
    }
    // Looking at and freeing a store work on a full filesystem (its space reserve).
    let maintenance = matches!(&cli.command, Command::Images(_) | Command::Cache(_));
    let store = open_store(cli.root, maintenance)?;
    // Opening the store swept the temporary entries of rbuild processes that were killed;
    // their run cgroups go too.
    rbuild_exec::sweep_dead_cgroups();
    match &cli.command {
        Command::Build(build) => build::run(&store, build),
        Command::Images(args) => images::run(&store, args),
        Command::Load(load) => load::run(&store, load),
        Command::Save(args) => save::run(&store, args),
        Command::Tag { source, target } => image_names::tag(&store, source, target),
        Command::Pull(args) => registry_cmd::pull(&store, args),
        Command::Push(args) => registry_cmd::push(&store, args),
        Command::Login(args) => registry_cmd::login(&store, args),
        Command::Logout { registry } => registry_cmd::logout(registry),
        Command::Rmi { force, images } => image_names::rmi(&store, images, *force),
        Command::History(args) => history::run(&store, args),
        Command::Inspect(args) => inspect::run(&store, args),
        Command::Info => system_info::info(&store),
        Command::Logs { build, step } => logs_cmd::run(&store, build.as_deref(), step.as_deref()),
        Command::Version | Command::Completion { .. } | Command::Man => Ok(()),
        Command::Cache(command) => cache_cmd::run(&store, command),
        Command::Debug(DebugCommand::Graph(build)) => debug::graph(&store, build),
        Command::Debug(DebugCommand::DumpAst { .. }) => Ok(()),
    }
}

/// Library warnings (`tracing`) reach stderr: `RUST_LOG` when set, else warnings, or
/// everything from debug up with `--debug`. Rawjson progress keeps stderr to its events.
fn install_log_subscriber(cli: &Cli) {
    if let Command::Build(build) = &cli.command {
        if build.progress == args::ProgressMode::Rawjson {
            return;
        }
    }
    let default = if cli.debug { "debug" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

fn open_store(root: Option<PathBuf>, maintenance: bool) -> Result<Store> {
    let root = root.unwrap_or_else(default_root);
    let opened = if maintenance {
        Store::open_for_maintenance(&root)
    } else {
        Store::open(&root)
    };
    opened.with_context(|| format!("cannot open the store at {}", root.display()))
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

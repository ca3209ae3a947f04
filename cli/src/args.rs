//! Command-line syntax: `docker build`-compatible flags, and the rule that a bare
//! `rbuild [flags] CONTEXT` means `rbuild build [flags] CONTEXT`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rbuild",
    version,
    about = "A daemonless Dockerfile build engine"
)]
pub struct Cli {
    /// Store root (default: /var/lib/rbuild for root, $XDG_DATA_HOME/rbuild otherwise).
    #[arg(long, global = true, env = "RBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile (the default command).
    Build(Box<BuildArgs>),
    /// List images in the local store.
    Images,
    /// Import an OCI image layout (directory or tar) or a docker-archive tar.
    Load(LoadArgs),
    /// Inspect and maintain the store: disk usage, prune, check.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Developer tools: the parsed AST and the lowered build graph.
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally tag (`name:tag`) for the built image; may repeat.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Dockerfile path (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Build stage to stop at.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache; every step runs.
    #[arg(long)]
    pub no_cache: bool,
    /// Progress output: auto (tty when stderr is a terminal), tty, or plain.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Output destination: `type=oci|docker|local,dest=PATH`; may repeat.
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,dest=PATH")]
    pub outputs: Vec<String>,
    /// Target platforms, comma-separated (`linux/amd64,linux/arm64`; `local` is this
    /// machine's); default: this machine's. Several build one image index.
    #[arg(long)]
    pub platform: Option<String>,
    /// Metadata label for the image (`KEY=VALUE`); may repeat.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Say for each step why it ran, or which earlier build its cached result came from.
    #[arg(long)]
    pub explain: bool,
    /// Export the build cache: `type=local,dest=DIR[,mode=min|max]`.
    #[arg(long = "cache-to", value_name = "type=local,dest=DIR")]
    pub cache_to: Vec<String>,
    /// Import a build cache before building: `type=local,src=DIR`; may repeat.
    #[arg(long = "cache-from", value_name = "type=local,src=DIR")]
    pub cache_from: Vec<String>,
    /// Store size the cleanup after each build keeps to (`20GB`, `500MB`; `0` or `off`
    /// disables). Default: the smaller of 20 GB and 10% of the store's filesystem.
    #[arg(
        long = "gc-keep-storage",
        env = "RBUILD_GC_KEEP_STORAGE",
        value_name = "SIZE"
    )]
    pub gc_keep_storage: Option<String>,
    /// Secret for `RUN --mount=type=secret`: `id=NAME,src=FILE` or `id=NAME,env=VAR`
    /// (`type=file|env` as buildx); may repeat.
    #[arg(long = "secret", value_name = "id=NAME,src=FILE")]
    pub secrets: Vec<String>,
    /// SSH agent for `RUN --mount=type=ssh`: `default` (SSH_AUTH_SOCK) or `ID=SOCKET`.
    #[arg(long = "ssh", value_name = "default|ID=SOCKET")]
    pub ssh: Vec<String>,
    /// Network of RUN steps without `--network`: default (the host's), none or host.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Memory limit of each RUN step (`512m`, `2g`).
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Process limit of each RUN step.
    #[arg(long = "pids-limit", value_name = "N")]
    pub pids_limit: Option<u64>,
    /// Build context directory.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// OCI layout directory or tar, or docker-archive tar.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Platforms to import from a multi-platform image, comma-separated (default: all of
    /// them); a name keeps the platforms it had and gains these.
    #[arg(long)]
    pub platform: Option<String>,
    /// Name to give the image (default: the names recorded in the archive).
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Disk usage of the store by kind of content.
    Du {
        /// Exact byte counts instead of human-readable sizes.
        #[arg(long)]
        bytes: bool,
    },
    /// Remove build cache; tagged images and running builds keep what they need.
    Prune(PruneArgs),
    /// Verify the store; with --repair, remove what is broken.
    Check {
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused cache, not just unreferenced content.
    #[arg(long)]
    pub all: bool,
    /// Remove least recently used cache until the store fits in SIZE (`10GB`, `500MB`).
    #[arg(long = "keep-storage", value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Only remove cache unused for longer than DURATION: `until=DURATION` (`24h`, `30m`).
    #[arg(long = "filter", value_name = "until=DURATION")]
    pub filters: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print the Dockerfile's syntax tree in BuildKit's dump format.
    DumpAst {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the lowered build graph as Graphviz DOT.
    Graph(Box<BuildArgs>),
}

const SUBCOMMANDS: &[&str] = &["build", "images", "load", "cache", "debug", "help"];

/// Parses the command line, treating `rbuild [flags] CONTEXT` as `rbuild build ...`.
pub fn parse() -> Cli {
    Cli::parse_from(with_default_command(std::env::args_os().collect()))
}

fn with_default_command(mut args: Vec<OsString>) -> Vec<OsString> {
    let first_word = args
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
        .map(|i| i + 1);
    let wants_help_or_version = args
        .iter()
        .skip(1)
        .any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-V" | "--version")))
        && first_word.is_none();
    let names_subcommand = first_word
        .and_then(|i| args[i].to_str())
        .is_some_and(|w| SUBCOMMANDS.contains(&w));
    if args.len() > 1 && !names_subcommand && !wants_help_or_version && !global_root_only(&args) {
        args.insert(1, OsString::from("build"));
    }
    args
}

/// `rbuild --root DIR images`: the first bare word after `--root` is its value.
fn global_root_only(args: &[OsString]) -> bool {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        match arg.to_str() {
            Some("--root") => {
                iter.next();
            }
            Some(a) if a.starts_with("--root=") => {}
            Some(a) => return SUBCOMMANDS.contains(&a),
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(line: &str) -> Vec<String> {
        with_default_command(line.split(' ').map(OsString::from).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn bare_context_means_build() {
        assert_eq!(
            expand("rbuild -t app:1.0 ."),
            ["rbuild", "build", "-t", "app:1.0", "."]
        );
        assert_eq!(expand("rbuild ."), ["rbuild", "build", "."]);
    }

    #[test]
    fn subcommands_are_left_alone() {
        assert_eq!(expand("rbuild images"), ["rbuild", "images"]);
        assert_eq!(expand("rbuild build ."), ["rbuild", "build", "."]);
        assert_eq!(
            expand("rbuild --root /r images"),
            ["rbuild", "--root", "/r", "images"]
        );
        assert_eq!(expand("rbuild --help"), ["rbuild", "--help"]);
    }

    #[test]
    fn build_flags_parse() {
        let cli = Cli::parse_from(expand(
            "rbuild -t a:1 -f x/Dockerfile --build-arg A=1 --target t --no-cache --progress plain -o type=oci,dest=o.tar ctx",
        ));
        let Command::Build(build) = cli.command else {
            panic!("expected build")
        };
        assert_eq!(build.tags, ["a:1"]);
        assert_eq!(build.build_args, ["A=1"]);
        assert_eq!(build.target.as_deref(), Some("t"));
        assert!(build.no_cache);
        assert_eq!(build.progress, ProgressMode::Plain);
        assert_eq!(build.outputs, ["type=oci,dest=o.tar"]);
        assert_eq!(build.context, PathBuf::from("ctx"));
    }

    #[test]
    fn cache_subcommands_and_flags_parse() {
        assert_eq!(expand("rbuild cache du"), ["rbuild", "cache", "du"]);
        assert_eq!(
            expand("rbuild --root /r cache prune --all"),
            ["rbuild", "--root", "/r", "cache", "prune", "--all"]
        );
        let cli = Cli::parse_from(expand(
            "rbuild --explain --cache-to type=local,dest=c --cache-from type=local,src=a --cache-from type=local,src=b ctx",
        ));
        let Command::Build(build) = cli.command else {
            panic!("expected build")
        };
        assert!(build.explain);
        assert_eq!(build.cache_to, ["type=local,dest=c"]);
        assert_eq!(build.cache_from.len(), 2);
        let cli = Cli::parse_from(expand(
            "rbuild cache prune --keep-storage 1GB --filter until=24h",
        ));
        let Command::Cache(CacheCommand::Prune(prune)) = cli.command else {
            panic!("expected cache prune")
        };
        assert_eq!(prune.keep_storage.as_deref(), Some("1GB"));
        assert_eq!(prune.filters, ["until=24h"]);
    }
}

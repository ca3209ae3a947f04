//! Command-line syntax: `docker build`-compatible flags, and the rule that a bare
//! `rbuild [flags] CONTEXT` means `rbuild build [flags] CONTEXT`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "rbuild",
    version,
    about = "A daemonless Dockerfile build engine",
    arg_required_else_help = true,
    after_help = "A bare `rbuild [flags] CONTEXT` is `rbuild build [flags] CONTEXT`.\n\nExamples:\n  rbuild -t app:1.0 .\n  rbuild --platform linux/amd64,linux/arm64 -o type=oci,dest=app.tar .\n  rbuild images"
)]
pub struct Cli {
    /// Store root (default: /var/lib/rbuild for root, $XDG_DATA_HOME/rbuild otherwise).
    #[arg(long, global = true, env = "RBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Show debug logs (RUST_LOG=rbuild_solver=debug,… picks finer; default: warnings).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile (the default command).
    Build(Box<BuildArgs>),
    /// List images in the local store.
    #[command(
        after_help = "Examples:\n  rbuild images\n  rbuild images busybox -q\n  rbuild images --digests --format '{{.Repository}}:{{.Tag}} {{.ID}}'"
    )]
    Images(ImagesArgs),
    /// Import an OCI image layout (directory or tar) or a docker-archive tar.
    #[command(
        after_help = "Examples:\n  rbuild load ../shared/images/busybox\n  rbuild load -i app.tar.gz\n  rbuild load < app.tar"
    )]
    Load(LoadArgs),
    /// Save images to a docker archive (or an OCI layout tar with --format oci).
    #[command(
        after_help = "Examples:\n  rbuild save -o app.tar app:1.0\n  rbuild save --format oci -o app.oci.tar app:1.0 busybox\n  rbuild save app:1.0 | gzip > app.tar.gz"
    )]
    Save(SaveArgs),
    /// Give an image another name: `rbuild tag SOURCE[:TAG] TARGET[:TAG]`.
    #[command(after_help = "Example:\n  rbuild tag app:1.0 registry.example.com/team/app:1.0")]
    Tag {
        #[arg(value_name = "SOURCE")]
        source: String,
        #[arg(value_name = "TARGET")]
        target: String,
    },
    /// Pull an image from its registry into the store.
    #[command(
        after_help = "Examples:\n  rbuild pull busybox\n  rbuild pull --platform linux/arm64 127.0.0.1:5000/team/app:1.0"
    )]
    Pull(PullArgs),
    /// Push a stored image to the registry its name says.
    #[command(after_help = "Example:\n  rbuild push registry.example.com/team/app:1.0")]
    Push(PushArgs),
    /// Log in to a registry; the credential goes to the Docker config file.
    #[command(
        after_help = "Example:\n  echo \"$TOKEN\" | rbuild login -u ci --password-stdin registry.example.com"
    )]
    Login(LoginArgs),
    /// Forget the credential for a registry.
    Logout {
        #[arg(value_name = "REGISTRY")]
        registry: String,
    },
    /// Remove image names; an image goes when its last name does.
    #[command(after_help = "Examples:\n  rbuild rmi app:1.0\n  rbuild rmi -f app:1.0 app:latest")]
    Rmi {
        /// An image given by id loses every name it has (without it, that is refused).
        #[arg(short, long)]
        force: bool,
        #[arg(value_name = "IMAGE", required = true)]
        images: Vec<String>,
    },
    /// Show how an image was made, one row per config history entry, newest first.
    #[command(
        after_help = "Examples:\n  rbuild history app:1.0\n  rbuild history --no-trunc --format '{{.CreatedBy}}' app:1.0"
    )]
    History(HistoryArgs),
    /// Print an image's config, manifest and platforms as JSON.
    #[command(
        after_help = "Examples:\n  rbuild inspect app:1.0\n  rbuild inspect --format '{{.Config.Env}}' app:1.0\n  rbuild inspect --format '{{json .Config.Labels}}' app:1.0"
    )]
    Inspect(InspectArgs),
    /// Show the full output of a build's steps (without BUILD: list recent builds).
    #[command(
        after_help = "Examples:\n  rbuild logs\n  rbuild logs last\n  rbuild logs last 3\n  rbuild logs 001764700000 'RUN make'"
    )]
    Logs {
        /// A build id (or its start), or `last`.
        #[arg(value_name = "BUILD")]
        build: Option<String>,
        /// A step number or part of its name.
        #[arg(value_name = "STEP")]
        step: Option<String>,
    },
    /// Print rbuild's version and what it was built with.
    Version,
    /// Print the store's location and size and the kernel features builds use.
    Info,
    /// Print a shell completion script: `rbuild completion bash|zsh|fish`.
    #[command(after_help = "Example:\n  rbuild completion bash > /etc/bash_completion.d/rbuild")]
    Completion {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print rbuild's man page (roff) to stdout.
    #[command(hide = true)]
    Man,
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
    /// Print only the image id on stdout; no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image id (the index digest for several platforms) to FILE.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Write the build result as JSON to FILE (buildx's keys: `containerimage.digest`,
    /// `containerimage.config.digest`, `containerimage.descriptor`, `image.name`).
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Progress output: auto (tty when stderr is a terminal), tty, plain, or rawjson
    /// (one JSON event per line on stderr).
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
    /// Export the build cache: `type=local,dest=DIR[,mode=min|max]` or
    /// `type=registry,ref=REPO:TAG[,mode=min|max]`.
    #[arg(long = "cache-to", value_name = "type=local,dest=DIR")]
    pub cache_to: Vec<String>,
    /// Import a build cache before building: `type=local,src=DIR` or
    /// `type=registry,ref=REPO:TAG`; may repeat.
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
    /// Pull every base image even when it is in the store.
    #[arg(long)]
    pub pull: bool,
    /// Push the result to the registry of each `-t` name.
    #[arg(long)]
    pub push: bool,
    /// Build context directory.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Platforms to pull, comma-separated (default: this machine's).
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    /// One JSON event per line on stderr (see `progress_json`).
    Rawjson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images of this repository (and tag).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
    /// Only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the digest of each image.
    #[arg(long)]
    pub digests: bool,
    /// Print each image with a template: `{{.Repository}}`, `{{.Tag}}`, `{{.ID}}`,
    /// `{{.Digest}}`, `{{.CreatedAt}}`, `{{.Size}}`, `{{.Platforms}}`, or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate image ids.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    Docker,
    Oci,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to FILE (default: stdout, which must not be a terminal).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Archive format: docker (what `docker load` reads) or oci (an OCI image layout tar).
    #[arg(long, value_enum, default_value_t = SaveFormat::Docker)]
    pub format: SaveFormat,
    /// The platform to save of a multi-platform image (default: this machine's).
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Show full commands and ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only image ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print each row with a template: `{{.ID}}`, `{{.CreatedSince}}`, `{{.CreatedAt}}`,
    /// `{{.CreatedBy}}`, `{{.Size}}`, `{{.Comment}}`.
    #[arg(long)]
    pub format: Option<String>,
    /// The platform of a multi-platform image (default: this machine's).
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print with a template instead of JSON: `{{.Config.Env}}`, `{{json .Config}}`,
    /// `{{.Architecture}}`, `{{index .Config.Labels "k"}}`.
    #[arg(short, long)]
    pub format: Option<String>,
    /// The platform of a multi-platform image (default: this machine's).
    #[arg(long)]
    pub platform: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// OCI layout directory or tar, or docker-archive tar (gzip or zstd compressed is fine).
    #[arg(value_name = "PATH", conflicts_with = "input")]
    pub path: Option<PathBuf>,
    /// Read from FILE instead of stdin (as `docker load -i`).
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
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

pub const SUBCOMMANDS: &[&str] = &[
    "build",
    "images",
    "load",
    "logs",
    "save",
    "tag",
    "pull",
    "push",
    "login",
    "logout",
    "rmi",
    "history",
    "inspect",
    "version",
    "info",
    "completion",
    "man",
    "cache",
    "debug",
    "help",
];

/// Parses the command line, treating `rbuild [flags] CONTEXT` as `rbuild build ...`; a
/// first word that is neither a command nor a path is an unknown command.
pub fn parse() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(word) = unknown_command(&args) {
        let hint = rbuild_frontend::did_you_mean(&word, SUBCOMMANDS.iter().copied())
            .map(|s| format!("\n\n  tip: did you mean `rbuild {s}`?"))
            .unwrap_or_default();
        Cli::command()
            .error(
                ErrorKind::InvalidSubcommand,
                format!("unknown command {word:?} (and no build context of that name exists){hint}\n\nRun `rbuild --help` for the commands."),
            )
            .exit();
    }
    Cli::parse_from(with_default_command(args))
}

/// The first word when it is meant as a command but names none: not a subcommand, not an
/// existing path, and not shaped like one (`./x`, `dir/`, `-`, a URL).
fn unknown_command(args: &[OsString]) -> Option<String> {
    let mut iter = args.iter().skip(1);
    let word = loop {
        let arg = iter.next()?.to_str()?;
        match arg {
            "--root" => {
                iter.next();
            }
            a if a.starts_with("--root=") => {}
            a if a.starts_with('-') => return None,
            a => break a,
        }
    };
    let looks_like_path = word.contains(['/', '.', ':']) || word == "-";
    let is_command = SUBCOMMANDS.contains(&word);
    (!is_command && !looks_like_path && !std::path::Path::new(word).exists())
        .then(|| word.to_string())
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
        assert_eq!(expand("rbuild rmi -f a"), ["rbuild", "rmi", "-f", "a"]);
        assert_eq!(expand("rbuild build ."), ["rbuild", "build", "."]);
        assert_eq!(
            expand("rbuild --root /r images"),
            ["rbuild", "--root", "/r", "images"]
        );
        assert_eq!(expand("rbuild --help"), ["rbuild", "--help"]);
    }

    #[test]
    fn unknown_words_are_commands_only_when_no_path_has_that_name() {
        let words = |line: &str| line.split(' ').map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            unknown_command(&words("rbuild buidl")).as_deref(),
            Some("buidl")
        );
        assert_eq!(
            unknown_command(&words("rbuild --root /r imags")).as_deref(),
            Some("imags")
        );
        assert_eq!(unknown_command(&words("rbuild images")), None);
        assert_eq!(unknown_command(&words("rbuild .")), None);
        assert_eq!(unknown_command(&words("rbuild -t app ctx")), None);
        assert_eq!(unknown_command(&words("rbuild src/ctx")), None);
        assert_eq!(unknown_command(&words("rbuild /")), None);
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

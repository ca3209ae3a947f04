//! What a build is asked to do: inputs (context, Dockerfile, build args, platforms) and
//! destinations (names, outputs, caches), already parsed. Reading the Dockerfile and the
//! context's `.dockerignore` is here; turning flags into a request is the front door's job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rbuild_graph::NetworkMode;
use rbuild_oci::{ImageReference, Platform};
use rbuild_solver::cache_io::CacheMode;
use rbuild_solver::Export;

use crate::error::EngineError;

/// One build.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The build context directory (absolute).
    pub context: PathBuf,
    pub dockerfile: Dockerfile,
    pub build_args: BTreeMap<String, String>,
    /// The stage to build; the last one when `None`.
    pub target: Option<String>,
    /// The platforms to build, in order; at least one.
    pub platforms: Vec<Platform>,
    /// The platform the build runs on (BUILDPLATFORM).
    pub build_platform: Platform,
    pub labels: BTreeMap<String, String>,
    /// Network of RUN steps that don't say otherwise.
    pub network: NetworkMode,
    /// Names the result gets in the store.
    pub tags: Vec<ImageReference>,
    pub exports: Vec<Export>,
    pub cache_from: Vec<CacheFrom>,
    pub cache_to: Vec<CacheTo>,
    /// Registry caches to import (`--cache-from type=registry,ref=…`).
    pub cache_from_registry: Vec<CacheFrom<ImageReference>>,
    /// Registry caches to write (`--cache-to type=registry,ref=…`).
    pub cache_to_registry: Vec<CacheTo<ImageReference>>,
    /// Pull every base image even when it is stored (`--pull`).
    pub pull: bool,
    /// Where the result is pushed after the build (`--push`, `type=registry`).
    pub push: Vec<ImageReference>,
    /// Run every step even when cached.
    pub no_cache: bool,
    /// Work out why each step ran or which build it came from (`Notice::Explanation`).
    pub explain: bool,
    /// SOURCE_DATE_EPOCH: file and history times for reproducible images.
    pub epoch: Option<i64>,
    /// Keep the store within this many bytes after the build; `None` disables the cleanup.
    pub gc_limit: Option<u64>,
    /// How many steps may run at once.
    pub max_parallel: usize,
}

impl BuildRequest {
    /// A request to build `dockerfile` in `context` natively, with nothing else set.
    pub fn new(context: PathBuf, dockerfile: Dockerfile) -> BuildRequest {
        BuildRequest {
            context,
            dockerfile,
            build_args: BTreeMap::new(),
            target: None,
            platforms: vec![Platform::host()],
            build_platform: Platform::host(),
            labels: BTreeMap::new(),
            network: NetworkMode::Default,
            tags: Vec::new(),
            exports: Vec::new(),
            cache_from: Vec::new(),
            cache_to: Vec::new(),
            cache_from_registry: Vec::new(),
            cache_to_registry: Vec::new(),
            pull: false,
            push: Vec::new(),
            no_cache: false,
            explain: false,
            epoch: None,
            gc_limit: None,
            max_parallel: default_parallelism(),
        }
    }

    /// True when more than one platform is built: results are image indexes.
    pub fn is_multi_platform(&self) -> bool {
        self.platforms.len() > 1
    }
}

/// Twice the cores, at least four: RUN steps mostly wait.
fn default_parallelism() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .max(4)
}

/// One `--cache-to` destination: a directory (`type=local`) or a registry reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheTo<D = PathBuf> {
    pub dest: D,
    pub mode: CacheMode,
    /// `cache-mounts=true`: carry the contents of the build's cache mounts too.
    pub cache_mounts: bool,
}

/// One `--cache-from` source: a directory (`type=local`) or a registry reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheFrom<S = PathBuf> {
    pub src: S,
    /// `cache-mounts=true`: fill empty cache mounts from the cache's contents.
    pub cache_mounts: bool,
}

/// The Dockerfile as read, with the context's `.dockerignore` patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dockerfile {
    /// The name messages use: relative to the context when inside it.
    pub name: String,
    pub source: String,
    pub context_excludes: Vec<String>,
}

impl Dockerfile {
    /// Reads `path` (default `CONTEXT/Dockerfile`) and the `.dockerignore` that applies.
    pub fn read(context: &Path, path: Option<&Path>) -> Result<Dockerfile, EngineError> {
        let path = path.map_or_else(|| context.join("Dockerfile"), Path::to_path_buf);
        let unreadable = |source| EngineError::Dockerfile {
            path: path.clone(),
            source,
        };
        let bytes = std::fs::read(&path).map_err(unreadable)?;
        let source = rbuild_frontend::decode_dockerfile(bytes)
            .map_err(|e| unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Dockerfile::from_source(context, &path, source)
    }

    /// A Dockerfile whose text came from elsewhere (stdin), named as if at `path`.
    pub fn from_source(
        context: &Path,
        path: &Path,
        source: String,
    ) -> Result<Dockerfile, EngineError> {
        let context_excludes = rbuild_frontend::read_dockerignore(context, path)?;
        Ok(Dockerfile {
            name: display_name(path, context),
            source,
            context_excludes,
        })
    }
}

fn display_name(dockerfile: &Path, context: &Path) -> String {
    let absolute = dockerfile
        .canonicalize()
        .unwrap_or_else(|_| dockerfile.to_path_buf());
    match absolute.strip_prefix(context) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => dockerfile.display().to_string(),
    }
}

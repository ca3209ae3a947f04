//! `rbuild build`: read the Dockerfile and .dockerignore, lower, solve, then name and export
//! the image. Every failure becomes a message naming the Dockerfile line when one is known.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use rbuild_cache::Store;
use rbuild_frontend::{BuildOptions, ImageResolver, ResolvedImage};
use rbuild_oci::{descriptor_digest, ImageReference, Platform};
use rbuild_solver::explain::{BuildFacts, BuildIdentity};
use rbuild_solver::graph::BuildDefinition;
use rbuild_solver::{
    assemble_image, commit_to_store, export_image, resolve_local_image, BuildContexts, BuiltImage,
    Export, SolveOptions, Solver,
};

use crate::args::BuildArgs;
use crate::diagnostics::{frontend_failure, solve_failure};
use crate::{cache_cmd, cache_flags, explain_view, interrupt, progress, secrets};

/// What one build needs to know about its inputs.
pub struct BuildInputs {
    pub context: PathBuf,
    pub dockerfile_name: String,
    pub source: String,
    pub options: BuildOptions,
}

/// Reads the Dockerfile and .dockerignore and turns the flags into frontend options.
pub fn read_inputs(args: &BuildArgs) -> Result<BuildInputs> {
    let context = args
        .context
        .canonicalize()
        .with_context(|| format!("build context {} not found", args.context.display()))?;
    if !context.is_dir() {
        bail!("build context {} is not a directory", context.display());
    }
    let dockerfile_path = args
        .file
        .clone()
        .unwrap_or_else(|| context.join("Dockerfile"));
    let source = std::fs::read_to_string(&dockerfile_path)
        .with_context(|| format!("cannot read Dockerfile {}", dockerfile_path.display()))?;
    let dockerfile_name = display_name(&dockerfile_path, &context);
    let context_excludes = rbuild_frontend::read_dockerignore(&context, &dockerfile_path)
        .map_err(|e| anyhow!("{}", e.diagnostic().render()))?;
    let platform = match &args.platform {
        Some(spec) => spec.parse::<Platform>()?,
        None => Platform::host(),
    };
    let options = BuildOptions {
        dockerfile_name: dockerfile_name.clone(),
        build_args: parse_build_args(&args.build_args)?,
        target: args.target.clone(),
        platform,
        build_platform: Platform::host(),
        labels: parse_pairs(&args.labels, "--label")?,
        network: secrets::parse_network(args.network.as_deref())?,
        context_excludes,
    };
    Ok(BuildInputs {
        context,
        dockerfile_name,
        source,
        options,
    })
}

/// Runs a whole build: lower, import caches, solve, explain and record, assemble, name and
/// export the image and the cache, then keep the store within its size limit.
pub fn run(store: &Store, args: &BuildArgs) -> Result<()> {
    // Whatever this build looks up or writes stays safe from a concurrent prune.
    let _lease = store
        .lease()
        .context("cannot register the build with the store")?;
    let started = unix_now();
    let inputs = read_inputs(args)?;
    let cache_from = cache_flags::parse_cache_from(&args.cache_from)?;
    let cache_to = cache_flags::parse_cache_to(&args.cache_to)?;
    let gc_setting = args.gc_keep_storage.as_deref();
    cache_cmd::gc_limit(store.root(), gc_setting)?;
    let names = parse_tags(&args.tags)?;
    let exports = args
        .outputs
        .iter()
        .map(|o| parse_output(o))
        .collect::<Result<Vec<_>>>()?;
    let definition = lower(store, &inputs)?;
    cache_flags::import_all(store, &cache_from);
    let epoch = source_date_epoch(&inputs.options.build_args)?;
    let contexts = BuildContexts::new(inputs.context.clone());
    let sink = progress::renderer(args.progress);
    let build_id = new_build_id();
    let options = SolveOptions {
        no_cache: args.no_cache,
        epoch,
        max_parallel: default_parallelism(),
        build_id: build_id.clone(),
    };
    let cancel = interrupt::cancel_on_signals().context("cannot watch for Ctrl-C")?;
    let run_env = secrets::run_environment(args, cancel)?;
    let solver =
        Solver::new(store, &contexts, options, sink.as_ref()).with_run_environment(run_env);
    let outcome = solver
        .solve(&definition.graph, definition.target)
        .map_err(|e| solve_failure(&e, &inputs))?;
    let facts = BuildFacts {
        identity: &BuildIdentity {
            context_dir: inputs.context.display().to_string(),
            dockerfile: inputs.dockerfile_name.clone(),
        },
        build_id: &build_id,
        started,
        build_args: &inputs.options.build_args.keys().cloned().collect(),
        no_cache: args.no_cache,
        graph: &definition.graph,
        outcome: &outcome,
    };
    explain_view::explain_and_record(store, &facts, args.explain);
    let image = assemble_image(&definition.image, &definition.graph, &outcome, epoch);
    finish(store, &image, &names, &exports)?;
    cache_flags::export_all(
        store,
        &definition.graph,
        &outcome,
        definition.target,
        &cache_to,
    )?;
    if let Err(e) = cache_cmd::collect_garbage(store, gc_setting) {
        eprintln!("warning: cleaning up the store after the build failed: {e:#}");
    }
    Ok(())
}

/// Lowers the Dockerfile against the images in the store.
pub fn lower(store: &Store, inputs: &BuildInputs) -> Result<BuildDefinition> {
    rbuild_frontend::build_definition(&inputs.source, &inputs.options, &StoreImages(store))
        .map_err(|e| frontend_failure(&e))
}

fn finish(
    store: &Store,
    image: &BuiltImage,
    names: &[ImageReference],
    exports: &[Export],
) -> Result<()> {
    let (_, image_id) = image.config_blob();
    let manifest = commit_to_store(store, image, names)?;
    for export in exports {
        export_image(store, image, names, export)?;
        eprintln!("exported to {}", export_dest(export).display());
    }
    for name in names {
        eprintln!("naming to {name} done");
    }
    let manifest_digest = descriptor_digest(&manifest)?;
    eprintln!("writing image {image_id} (manifest {manifest_digest}) done");
    println!("{image_id}");
    Ok(())
}

fn export_dest(export: &Export) -> &Path {
    match export {
        Export::Oci { dest } | Export::Docker { dest } | Export::Local { dest } => dest,
    }
}

/// The frontend's view of the local image store.
struct StoreImages<'a>(&'a Store);

impl ImageResolver for StoreImages<'_> {
    fn resolve(
        &self,
        reference: &ImageReference,
        platform: &Platform,
    ) -> std::result::Result<ResolvedImage, String> {
        let image = resolve_local_image(self.0, reference, platform).map_err(|e| e.to_string())?;
        let manifest = descriptor_digest(&image.manifest).map_err(|e| e.to_string())?;
        Ok(ResolvedImage {
            manifest,
            config: image.config,
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

fn parse_build_args(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((key, value)) => {
                values.insert(key.to_string(), value.to_string());
            }
            // `--build-arg KEY` takes the value from the environment, as docker does.
            None => {
                if let Ok(value) = std::env::var(arg) {
                    values.insert(arg.clone(), value);
                }
            }
        }
    }
    Ok(values)
}

fn parse_pairs(pairs: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("{flag} {pair:?}: expected KEY=VALUE"))
        })
        .collect()
}

fn parse_tags(tags: &[String]) -> Result<Vec<ImageReference>> {
    tags.iter()
        .map(|t| ImageReference::parse(t).with_context(|| format!("invalid tag {t:?}")))
        .collect()
}

/// Parses `--output`: `type=oci|docker|local,dest=PATH`, or a bare path for `local`.
pub fn parse_output(spec: &str) -> Result<Export> {
    if !spec.contains('=') {
        return Ok(Export::Local {
            dest: PathBuf::from(spec),
        });
    }
    let fields = parse_pairs(
        &spec.split(',').map(str::to_string).collect::<Vec<_>>(),
        "--output",
    )?;
    let dest = fields
        .get("dest")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("--output {spec:?}: missing dest=PATH"))?;
    match fields.get("type").map(String::as_str) {
        Some("oci") => Ok(Export::Oci { dest }),
        Some("docker") => Ok(Export::Docker { dest }),
        Some("local") => Ok(Export::Local { dest }),
        Some(other) => bail!("--output {spec:?}: unknown type {other:?} (oci, docker or local)"),
        None => bail!("--output {spec:?}: missing type=oci|docker|local"),
    }
}

fn source_date_epoch(build_args: &BTreeMap<String, String>) -> Result<Option<i64>> {
    let value = build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    match value.filter(|v| !v.is_empty()) {
        Some(v) => Ok(Some(v.parse::<i64>().with_context(|| {
            format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")
        })?)),
        None => Ok(None),
    }
}

fn default_parallelism() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .max(4)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn new_build_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{:x}", nanos, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_like_buildx() {
        assert_eq!(
            parse_output("type=oci,dest=out.tar").unwrap(),
            Export::Oci {
                dest: "out.tar".into()
            }
        );
        assert_eq!(
            parse_output("dir").unwrap(),
            Export::Local { dest: "dir".into() }
        );
        assert!(parse_output("type=zip,dest=x").is_err());
        assert!(parse_output("type=oci").is_err());
    }
}

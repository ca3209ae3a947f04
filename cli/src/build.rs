//! `rbuild build`: turns the flags into a `BuildRequest`, runs it on the engine with the
//! chosen progress renderer, and words what the engine reports. Every failure becomes a
//! message naming the Dockerfile line when one is known.
//!
//! The pipeline itself is `rbuild_engine`'s; nothing here builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use rbuild_cache::Store;
use rbuild_engine::{Build, BuildRequest, BuildResult, Dockerfile, Export};
use rbuild_oci::{ImageReference, Platform};

use crate::args::{BuildArgs, ProgressMode};
use crate::build_context::PreparedContext;
use crate::build_notices::CliEvents;
use crate::diagnostics::engine_failure;
use crate::progress::{BuildEnding, BuildSummary, BuildView};
use crate::stdout_archive::StdoutArchive;
use crate::step_logs::StepLogRecorder;
use crate::{
    build_metadata, cache_cmd, cache_flags, interrupt, progress, progress_json, secrets,
    spec_fields,
};

/// Turns the flags into the engine's request (reads the Dockerfile and .dockerignore).
pub fn request(args: &BuildArgs, prepared: &PreparedContext) -> Result<BuildRequest> {
    let context = prepared.dir.clone();
    let dockerfile = match &prepared.dockerfile_text {
        Some(text) => Dockerfile::from_source(&context, &context.join("Dockerfile"), text.clone()),
        None => Dockerfile::read(&context, args.file.as_deref()),
    }
    .map_err(|e| anyhow!("{}", rbuild_solver::cause_chain(&e)))?;
    let mut request = BuildRequest::new(context, dockerfile);
    request.build_args = parse_build_args(&args.build_args);
    request.target = args.target.clone();
    if let Some(spec) = &args.platform {
        request.platforms = Platform::parse_list(spec).context("--platform")?;
    }
    request.labels = parse_pairs(&args.labels, "--label")?;
    request.network = secrets::parse_network(args.network.as_deref())?;
    request.tags = parse_tags(&args.tags)?;
    let (registry_outputs, outputs): (Vec<&String>, Vec<&String>) =
        args.outputs.iter().partition(|o| is_registry_output(o));
    request.exports = outputs
        .into_iter()
        .map(|o| parse_output(o))
        .collect::<Result<Vec<_>>>()?;
    request.push = push_destinations(args.push, &request.tags, &registry_outputs)?;
    request.pull = args.pull;
    let (registry_from, local_from): (Vec<String>, Vec<String>) = args
        .cache_from
        .iter()
        .cloned()
        .partition(|s| cache_flags::is_registry(s));
    let (registry_to, local_to): (Vec<String>, Vec<String>) = args
        .cache_to
        .iter()
        .cloned()
        .partition(|s| cache_flags::is_registry(s));
    request.cache_from = cache_flags::parse_cache_from(&local_from)?;
    request.cache_to = cache_flags::parse_cache_to(&local_to)?;
    for spec in &registry_from {
        let parsed = cache_flags::parse_registry(spec, "--cache-from")?;
        request.cache_from_registry.push(rbuild_engine::CacheFrom {
            src: parsed.dest,
            cache_mounts: parsed.cache_mounts,
        });
    }
    for spec in &registry_to {
        request
            .cache_to_registry
            .push(cache_flags::parse_registry(spec, "--cache-to")?);
    }
    request.no_cache = args.no_cache;
    request.explain = args.explain;
    request.epoch = source_date_epoch(&request.build_args)?;
    Ok(request)
}

/// Runs a whole build and prints the image id.
pub fn run(store: &Store, args: &BuildArgs) -> Result<()> {
    let prepared = PreparedContext::prepare(store, args)?;
    let mut request = request(args, &prepared)?;
    let to_stdout = route_to_stdout(store, &mut request.exports)?;
    request.gc_limit = cache_cmd::gc_limit(store.root(), args.gc_keep_storage.as_deref())?;
    let sink = StepLogRecorder::new(store.root(), progress::renderer(args.progress, args.quiet));
    let cancel = interrupt::cancel_on_signals().context("cannot watch for Ctrl-C")?;
    let run_env = secrets::run_environment(args, cancel)?;
    let events = CliEvents {
        json: args.progress == ProgressMode::Rawjson,
        stdout_archive: to_stdout.as_ref().map(StdoutArchive::path),
    };
    let outcome = Build::new(store, &request, &sink, &events).run(run_env);
    let ending = match &outcome {
        Ok(_) => BuildEnding::Finished,
        Err(_) if interrupt::exit_code().is_some() => BuildEnding::Canceled,
        Err(_) => BuildEnding::Failed,
    };
    let summary = BuildSummary {
        exported_bytes: exported_bytes(&request.exports),
        cache_saved: outcome.as_ref().map(|r| r.cache_saved).unwrap_or_default(),
    };
    sink.finished(ending, &summary);
    let result = outcome.map_err(|e| engine_failure(&e, &request))?;
    build_metadata::write_files(args, &request, &result)?;
    if events.json {
        progress_json::emit("result", build_metadata::result_fields(&result)?);
    }
    report(&result, args.quiet || events.json, to_stdout.is_none())?;
    match &to_stdout {
        Some(archive) => archive.send(),
        None => Ok(()),
    }
}

/// What the outputs hold on disk (archives and directories), for the closing summary.
fn exported_bytes(exports: &[Export]) -> u64 {
    fn size(path: &Path) -> u64 {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
                .map(|entries| entries.flatten().map(|e| size(&e.path())).sum())
                .unwrap_or(0),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        }
    }
    exports.iter().map(|export| size(dest_of(export))).sum()
}

/// Points the output with `dest=-` (at most one, an archive type) at a staged file whose
/// bytes go to stdout once the build has succeeded.
fn route_to_stdout(store: &Store, exports: &mut [Export]) -> Result<Option<StdoutArchive>> {
    let to_stdout: Vec<usize> = (0..exports.len())
        .filter(|&i| dest_of(&exports[i]) == Path::new("-"))
        .collect();
    let index = match to_stdout.as_slice() {
        [] => return Ok(None),
        [index] => *index,
        _ => bail!("--output: only one output can go to stdout (dest=-)"),
    };
    let archive = StdoutArchive::stage(store, "--output dest=-")?;
    match &mut exports[index] {
        Export::Oci { dest } | Export::Docker { dest } => *dest = archive.path(),
        Export::Local { .. } => bail!(
            "--output type=local,dest=-: a directory cannot go to stdout; use type=oci or \
             type=docker"
        ),
    }
    Ok(Some(archive))
}

fn dest_of(export: &Export) -> &Path {
    match export {
        Export::Oci { dest } | Export::Docker { dest } | Export::Local { dest } => dest,
    }
}

/// Tells what was built on stderr; the image id goes to stdout unless stdout carries an
/// archive (`print_id` false).
fn report(result: &BuildResult, quiet: bool, print_id: bool) -> Result<()> {
    let first = result
        .images
        .first()
        .ok_or_else(|| anyhow!("the build produced no image"))?;
    match result.images.as_slice() {
        _ if quiet => {}
        [_] => {
            eprintln!("writing image {} done", first.image_id);
            if let Some(digest) = &result.distribution {
                eprintln!("image digest {digest} (the exported or pushed manifest)");
            }
        }
        images => {
            for image in images {
                eprintln!(
                    "writing image {} for {} done",
                    image.image_id, image.platform
                );
            }
            eprintln!(
                "writing image index {} done",
                build_metadata::image_digest(result)?
            );
        }
    }
    if print_id {
        println!("{}", first.image_id);
    }
    Ok(())
}

fn parse_build_args(args: &[String]) -> BTreeMap<String, String> {
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
    values
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

fn is_registry_output(spec: &str) -> bool {
    spec.split(',').any(|field| field.trim() == "type=registry")
}

/// Attributes of `-o type=oci|docker|local`.
const ARCHIVE_OUTPUT_KEYS: &[&str] = &["type", "dest"];
/// Attributes of `-o type=registry`.
const REGISTRY_OUTPUT_KEYS: &[&str] = &["type", "name", "push"];

/// Where the result is pushed: every `-t` name with `--push`; for `type=registry`, its
/// `name=` (several separated by `,` inside quotes are not supported) or else the tags.
fn push_destinations(
    push: bool,
    tags: &[ImageReference],
    registry_outputs: &[&String],
) -> Result<Vec<ImageReference>> {
    let mut destinations = Vec::new();
    if push {
        destinations.extend(tags.iter().cloned());
    }
    for spec in registry_outputs {
        let fields = spec_fields::parse(spec, "--output", REGISTRY_OUTPUT_KEYS)?;
        if let Some(value) = fields.get("push").filter(|v| v.as_str() != "true") {
            bail!("--output {spec:?}: type=registry always pushes (push={value:?})");
        }
        match fields.get("name") {
            Some(name) => destinations.push(
                ImageReference::parse(name)
                    .with_context(|| format!("--output {spec:?}: invalid name {name:?}"))?,
            ),
            None => destinations.extend(tags.iter().cloned()),
        }
    }
    if destinations.is_empty() && (push || !registry_outputs.is_empty()) {
        bail!("nothing to push to: name the image with -t NAME or type=registry,name=NAME");
    }
    destinations.sort();
    destinations.dedup();
    Ok(destinations)
}

/// Parses `--output`: `type=oci|docker|local,dest=PATH`, or a bare path for `local`.
/// An attribute other than `type` and `dest` is an error.
pub fn parse_output(spec: &str) -> Result<Export> {
    if !spec.contains('=') {
        return Ok(Export::Local {
            dest: PathBuf::from(spec),
        });
    }
    let fields = spec_fields::split(spec, "--output")?;
    let kind = fields.get("type").map(String::as_str);
    if let Some(other) = kind.filter(|k| !matches!(*k, "oci" | "docker" | "local")) {
        bail!("--output {spec:?}: unknown type {other:?} (oci, docker, local or registry)");
    }
    spec_fields::require_known(&fields, spec, "--output", ARCHIVE_OUTPUT_KEYS)?;
    let dest = fields
        .get("dest")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("--output {spec:?}: missing dest=PATH"))?;
    match kind {
        Some("oci") => Ok(Export::Oci { dest }),
        Some("docker") => Ok(Export::Docker { dest }),
        Some(_) => Ok(Export::Local { dest }),
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
        let unknown = parse_output("type=oci,dest=o.tar,compression=zstd").unwrap_err();
        assert!(unknown
            .to_string()
            .contains("unknown attribute \"compression\" (accepted: type, dest)"));
        let tags = [ImageReference::parse("a:1").unwrap()];
        let registry = "type=registry,name=reg:5000/a:1,oci-mediatypes=true".to_string();
        let unknown = push_destinations(false, &tags, &[&registry]).unwrap_err();
        assert!(unknown.to_string().contains("\"oci-mediatypes\""));
    }
}

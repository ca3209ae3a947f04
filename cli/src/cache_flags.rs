//! `--cache-from` and `--cache-to`: parsing the buildx-style specs into the engine's
//! cache sources and destinations.
//!
//! Importing and exporting are the engine's; the cache format is the solver's (`cache_io`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use rbuild_engine::{CacheFrom, CacheMode, CacheTo};
use rbuild_oci::ImageReference;

use crate::spec_fields;

/// Attributes of `--cache-from type=local`.
const LOCAL_FROM_KEYS: &[&str] = &["type", "src", "cache-mounts"];
/// Attributes of `--cache-to type=local`.
const LOCAL_TO_KEYS: &[&str] = &["type", "dest", "mode", "cache-mounts"];

/// Parses every `--cache-from type=local,src=DIR[,cache-mounts=true]` (a bare path means
/// `src=`).
pub fn parse_cache_from(specs: &[String]) -> Result<Vec<CacheFrom>> {
    specs
        .iter()
        .map(|spec| {
            let fields = local_fields(spec, "--cache-from", "src", LOCAL_FROM_KEYS)?;
            let src = fields
                .get("src")
                .map(PathBuf::from)
                .ok_or_else(|| anyhow!("--cache-from {spec:?}: missing src=DIR"))?;
            let cache_mounts = cache_mounts_field(spec, "--cache-from", &fields)?;
            Ok(CacheFrom { src, cache_mounts })
        })
        .collect()
}

/// Parses every `--cache-to type=local,dest=DIR[,mode=min|max][,cache-mounts=true]`.
pub fn parse_cache_to(specs: &[String]) -> Result<Vec<CacheTo>> {
    specs
        .iter()
        .map(|spec| {
            let fields = local_fields(spec, "--cache-to", "dest", LOCAL_TO_KEYS)?;
            let dest = fields
                .get("dest")
                .map(PathBuf::from)
                .ok_or_else(|| anyhow!("--cache-to {spec:?}: missing dest=DIR"))?;
            let mode = match fields.get("mode") {
                None => CacheMode::Min,
                Some(value) => parse_mode(spec, "--cache-to", value)?,
            };
            let cache_mounts = cache_mounts_field(spec, "--cache-to", &fields)?;
            Ok(CacheTo {
                dest,
                mode,
                cache_mounts,
            })
        })
        .collect()
}

/// Whether a spec names a registry cache (`type=registry,ref=…`).
pub fn is_registry(spec: &str) -> bool {
    spec.split(',').any(|field| field.trim() == "type=registry")
}

/// Parses `type=registry,ref=REPO:TAG[,mode=min|max][,cache-mounts=true]`.
pub fn parse_registry(spec: &str, flag: &str) -> Result<CacheTo<ImageReference>> {
    let mut reference = None;
    let mut mode = CacheMode::Min;
    let mut cache_mounts = false;
    for field in spec.split(',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| anyhow!("{flag} {spec:?}: expected key=value, got {field:?}"))?;
        match key.trim() {
            "type" => {}
            "ref" => {
                reference = Some(
                    ImageReference::parse(value)
                        .map_err(|e| anyhow!("{flag} {spec:?}: ref {value:?}: {e}"))?,
                )
            }
            "mode" => mode = parse_mode(spec, flag, value)?,
            "cache-mounts" => cache_mounts = parse_bool(spec, flag, "cache-mounts", value)?,
            other => bail!("{flag} {spec:?}: unknown key {other:?} (ref, mode, cache-mounts)"),
        }
    }
    let dest = reference.ok_or_else(|| anyhow!("{flag} {spec:?}: missing ref=REPO:TAG"))?;
    Ok(CacheTo {
        dest,
        mode,
        cache_mounts,
    })
}

/// `cache-mounts=true|false` of a local spec (false when absent).
fn cache_mounts_field(spec: &str, flag: &str, fields: &BTreeMap<String, String>) -> Result<bool> {
    fields.get("cache-mounts").map_or(Ok(false), |value| {
        parse_bool(spec, flag, "cache-mounts", value)
    })
}

fn parse_bool(spec: &str, flag: &str, key: &str, value: &str) -> Result<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => bail!("{flag} {spec:?}: {key} {other:?} is not true or false"),
    }
}

fn parse_mode(spec: &str, flag: &str, value: &str) -> Result<CacheMode> {
    match value {
        "min" => Ok(CacheMode::Min),
        "max" => Ok(CacheMode::Max),
        other => bail!("{flag} {spec:?}: mode {other:?} is not min or max"),
    }
}

/// `key=value` fields of a local cache spec, each one of `accepted`; only `type=local` is
/// supported.
fn local_fields(
    spec: &str,
    flag: &str,
    path_key: &str,
    accepted: &[&str],
) -> Result<BTreeMap<String, String>> {
    if !spec.contains('=') {
        return Ok(BTreeMap::from([(path_key.to_string(), spec.to_string())]));
    }
    let fields = spec_fields::split(spec, flag)?;
    match fields.get("type").map(String::as_str) {
        None | Some("local") => {}
        Some(other) => bail!("{flag} {spec:?}: cache type {other:?} is not supported (local)"),
    }
    spec_fields::require_known(&fields, spec, flag, accepted)?;
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_like_buildx() {
        assert_eq!(
            parse_cache_to(&["type=local,dest=out,mode=max".into()]).unwrap(),
            [CacheTo {
                dest: "out".into(),
                mode: CacheMode::Max,
                cache_mounts: false,
            }]
        );
        assert_eq!(
            parse_cache_to(&["type=local,dest=out".into()]).unwrap()[0].mode,
            CacheMode::Min
        );
        let from = parse_cache_from(&["type=local,src=a".into(), "b".into()]).unwrap();
        let sources: Vec<_> = from.iter().map(|f| f.src.clone()).collect();
        assert_eq!(sources, [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(from.iter().all(|f| !f.cache_mounts));
        assert!(
            parse_cache_from(&["type=local,src=a,cache-mounts=true".into()]).unwrap()[0]
                .cache_mounts
        );
        assert!(parse_cache_to(&["type=local,dest=o,cache-mounts=yes".into()]).is_err());
        assert!(parse_cache_to(&["type=gha".into()]).is_err());
        let to = parse_registry(
            "type=registry,ref=reg:5000/c:main,mode=max,cache-mounts=true",
            "--cache-to",
        )
        .unwrap();
        assert_eq!(to.dest.to_string(), "reg:5000/c:main");
        assert_eq!(to.mode, CacheMode::Max);
        assert!(to.cache_mounts);
        assert!(parse_registry("type=registry", "--cache-to").is_err());
        assert!(parse_cache_to(&["type=local,dest=o,mode=all".into()]).is_err());
        assert!(parse_cache_from(&["type=local".into()]).is_err());
        let unknown = parse_cache_to(&["type=local,dest=o,compression=zstd".into()]).unwrap_err();
        assert!(unknown
            .to_string()
            .contains("unknown attribute \"compression\" (accepted: type, dest, mode"));
        assert!(parse_cache_from(&["type=local,src=a,digest=sha256:1".into()]).is_err());
    }
}

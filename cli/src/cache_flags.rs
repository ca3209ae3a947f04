//! `--cache-from` and `--cache-to`: parsing the buildx-style specs and running the imports
//! before the solve (a missing or damaged cache is a warning, never a failed build) and the
//! exports after it.
//!
//! The cache directory format and its verification are the solver's (`cache_io`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use rbuild_cache::Store;
use rbuild_solver::cache_io::{export_cache, import_cache, CacheMode};
use rbuild_solver::graph::{BuildGraph, VertexId};
use rbuild_solver::SolveOutcome;

/// One `--cache-to type=local,dest=DIR[,mode=min|max]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheTo {
    pub dest: PathBuf,
    pub mode: CacheMode,
}

/// Parses every `--cache-from type=local,src=DIR` (a bare path means `src=`).
pub fn parse_cache_from(specs: &[String]) -> Result<Vec<PathBuf>> {
    specs
        .iter()
        .map(|spec| {
            let fields = local_fields(spec, "--cache-from", "src")?;
            fields
                .get("src")
                .map(PathBuf::from)
                .ok_or_else(|| anyhow!("--cache-from {spec:?}: missing src=DIR"))
        })
        .collect()
}

/// Parses every `--cache-to type=local,dest=DIR[,mode=min|max]`.
pub fn parse_cache_to(specs: &[String]) -> Result<Vec<CacheTo>> {
    specs
        .iter()
        .map(|spec| {
            let fields = local_fields(spec, "--cache-to", "dest")?;
            let dest = fields
                .get("dest")
                .map(PathBuf::from)
                .ok_or_else(|| anyhow!("--cache-to {spec:?}: missing dest=DIR"))?;
            let mode = match fields.get("mode").map(String::as_str) {
                None | Some("min") => CacheMode::Min,
                Some("max") => CacheMode::Max,
                Some(other) => bail!("--cache-to {spec:?}: mode {other:?} is not min or max"),
            };
            Ok(CacheTo { dest, mode })
        })
        .collect()
}

/// `key=value` fields of a local cache spec; only `type=local` is supported.
fn local_fields(spec: &str, flag: &str, path_key: &str) -> Result<BTreeMap<String, String>> {
    if !spec.contains('=') {
        return Ok(BTreeMap::from([(path_key.to_string(), spec.to_string())]));
    }
    let mut fields = BTreeMap::new();
    for field in spec.split(',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| anyhow!("{flag} {spec:?}: expected key=value, got {field:?}"))?;
        fields.insert(key.trim().to_string(), value.to_string());
    }
    match fields.get("type").map(String::as_str) {
        None | Some("local") => Ok(fields),
        Some(other) => bail!("{flag} {spec:?}: cache type {other:?} is not supported (local)"),
    }
}

/// Imports each cache directory; problems become warnings.
pub fn import_all(store: &Store, sources: &[PathBuf]) {
    for src in sources {
        match import_cache(store, src) {
            Ok(summary) => {
                eprintln!(
                    "importing cache from {}: {} records ({} known already), {} layers",
                    src.display(),
                    summary.records,
                    summary.known,
                    summary.layers
                );
                for skipped in &summary.skipped {
                    eprintln!("warning: cache {}: skipped {skipped}", src.display());
                }
            }
            Err(e) => eprintln!("warning: cache {} not imported: {e}", src.display()),
        }
    }
}

/// Exports the build's cache to every `--cache-to`.
pub fn export_all(
    store: &Store,
    graph: &BuildGraph,
    outcome: &SolveOutcome,
    target: VertexId,
    destinations: &[CacheTo],
) -> Result<()> {
    for to in destinations {
        let summary = export_cache(store, graph, outcome, target, &to.dest, to.mode)
            .with_context(|| format!("cannot export the cache to {}", to.dest.display()))?;
        eprintln!(
            "exported cache to {}: {} records, {} layers",
            to.dest.display(),
            summary.records,
            summary.layers
        );
    }
    Ok(())
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
                mode: CacheMode::Max
            }]
        );
        assert_eq!(
            parse_cache_to(&["type=local,dest=out".into()]).unwrap()[0].mode,
            CacheMode::Min
        );
        assert_eq!(
            parse_cache_from(&["type=local,src=a".into(), "b".into()]).unwrap(),
            [PathBuf::from("a"), PathBuf::from("b")]
        );
        assert!(parse_cache_to(&["type=registry,ref=x".into()]).is_err());
        assert!(parse_cache_to(&["type=local,dest=o,mode=all".into()]).is_err());
        assert!(parse_cache_from(&["type=local".into()]).is_err());
    }
}

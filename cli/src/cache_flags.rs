//! `--cache-from` and `--cache-to`: parsing the buildx-style specs into the engine's
//! cache sources and destinations.
//!
//! Importing and exporting are the engine's; the cache format is the solver's (`cache_io`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use rbuild_engine::{CacheMode, CacheTo};

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

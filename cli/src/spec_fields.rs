//! The `key=value,key=value` specs of `-o/--output`, `--cache-to` and `--cache-from`, split
//! into fields and checked against the attributes a flag accepts: an attribute rbuild does
//! not know is an error naming it and the accepted ones, never silently ignored.
//!
//! What each attribute means is for the flag's own parser (`build`, `cache_flags`).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};

/// The fields of a spec whose type is known to accept `accepted`: split, then checked.
pub fn parse(spec: &str, flag: &str, accepted: &[&str]) -> Result<BTreeMap<String, String>> {
    let fields = split(spec, flag)?;
    require_known(&fields, spec, flag, accepted)?;
    Ok(fields)
}

/// Splits `spec` into its fields; a key given twice is an error.
pub fn split(spec: &str, flag: &str) -> Result<BTreeMap<String, String>> {
    let mut fields = BTreeMap::new();
    for field in spec.split(',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| anyhow!("{flag} {spec:?}: expected key=value, got {field:?}"))?;
        let key = key.trim();
        if fields.insert(key.to_string(), value.to_string()).is_some() {
            bail!("{flag} {spec:?}: attribute {key:?} is given twice");
        }
    }
    Ok(fields)
}

/// Fails naming the first key of `fields` that is not one of `accepted`.
pub fn require_known(
    fields: &BTreeMap<String, String>,
    spec: &str,
    flag: &str,
    accepted: &[&str],
) -> Result<()> {
    match fields.keys().find(|key| !accepted.contains(&key.as_str())) {
        None => Ok(()),
        Some(key) => bail!(
            "{flag} {spec:?}: unknown attribute {key:?} (accepted: {})",
            accepted.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_attributes_are_named_with_the_accepted_ones() {
        let fields = parse("type=oci,dest=o.tar", "--output", &["type", "dest"]).unwrap();
        assert_eq!(fields["dest"], "o.tar");
        let error = parse(
            "type=oci,dest=o,compression=zstd",
            "--output",
            &["type", "dest"],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "--output \"type=oci,dest=o,compression=zstd\": unknown attribute \"compression\" \
             (accepted: type, dest)"
        );
        assert!(parse("type=oci,type=docker", "--output", &["type"]).is_err());
        assert!(parse("type=oci,dest", "--output", &["type", "dest"]).is_err());
    }
}

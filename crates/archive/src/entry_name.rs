//! Names of files inside an archive: lexical normalization (so `./index.json` and
//! `index.json` are the same entry and nothing can climb out with `..`), and the
//! `blobs/sha256/<hex>` naming of content-addressed blobs.
//!
//! It does not touch the filesystem; symlinks are resolved by the tar index, not here.

use rbuild_oci::Digest;

/// `blobs/sha256/<hex>`, where an OCI layout keeps the blob with `digest`.
pub(crate) fn blob_entry_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// The digest a file name itself announces: `<64 hex>` (OCI blobs) or `<64 hex>.json`
/// (classic docker-archive configs). Other names (`<id>/layer.tar`) announce nothing.
pub(crate) fn digest_named_by(name: &str) -> Option<Digest> {
    let file_name = name.rsplit('/').next()?;
    let hex_digits = file_name.strip_suffix(".json").unwrap_or(file_name);
    Digest::from_hex(hex_digits).ok()
}

/// Normalizes an entry name: no leading `/` or `./`, no `.` or empty components, `..`
/// applied lexically. Returns `None` for names that climb above the archive root or are empty.
pub(crate) fn normalize_entry_name(name: &str) -> Option<String> {
    let mut components: Vec<&str> = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop()?;
            }
            other => components.push(other),
        }
    }
    if components.is_empty() {
        None
    } else {
        Some(components.join("/"))
    }
}

/// Resolves a link found at entry `at`: a symlink target is relative to the link's
/// directory (or to the archive root when absolute), a hard link names an archive entry.
pub(crate) fn resolve_link_target(at: &str, target: &str, symbolic: bool) -> Option<String> {
    if !symbolic || target.starts_with('/') {
        return normalize_entry_name(target);
    }
    let directory = at.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
    normalize_entry_name(&format!("{directory}/{target}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_removes_dots_and_rejects_escapes() {
        assert_eq!(
            normalize_entry_name("./index.json").as_deref(),
            Some("index.json")
        );
        assert_eq!(normalize_entry_name("/a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalize_entry_name("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize_entry_name("../etc/passwd"), None);
        assert_eq!(normalize_entry_name("./"), None);
    }

    #[test]
    fn links_resolve_relative_to_their_directory() {
        assert_eq!(
            resolve_link_target("abc/layer.tar", "../def/layer.tar", true).as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(
            resolve_link_target("abc/layer.tar", "def/layer.tar", false).as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(resolve_link_target("layer.tar", "../../x", true), None);
    }

    #[test]
    fn digests_are_read_from_blob_and_config_names_only() {
        let digest = Digest::of(b"x");
        assert_eq!(
            digest_named_by(&blob_entry_name(&digest)),
            Some(digest.clone())
        );
        assert_eq!(
            digest_named_by(&format!("{}.json", digest.hex())),
            Some(digest.clone())
        );
        assert_eq!(
            digest_named_by(&format!("{}/layer.tar", digest.hex())),
            None
        );
    }
}

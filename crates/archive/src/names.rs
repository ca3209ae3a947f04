//! Image names as archives record them — `io.containerd.image.name` and
//! `org.opencontainers.image.ref.name` annotations, docker `RepoTags` — turned into one
//! form: full names normalized as Docker does (`docker.io/library/busybox:latest`), bare
//! tags (`latest`) kept as they are. Also: which image a user-given name picks.
//!
//! Names that do not parse as references are kept verbatim rather than rejected: an
//! archive with an odd name is still importable by position.

use std::collections::HashMap;
use std::path::Path;

use rbuild_oci::media_types::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use rbuild_oci::ImageReference;

use crate::error::ArchiveError;

/// True for a `ref.name` that is a whole image name rather than a bare tag.
fn is_full_name(name: &str) -> bool {
    name.contains(['/', ':', '@'])
}

/// The normalized form of a full name, or the name itself if it does not parse.
fn normalize(name: &str) -> String {
    ImageReference::parse(name)
        .map(|reference| reference.to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// The names an OCI index entry's annotations give.
pub(crate) fn from_annotations(annotations: Option<&HashMap<String, String>>) -> Vec<String> {
    let Some(annotations) = annotations else {
        return Vec::new();
    };
    let image_name = annotations.get(ANNOTATION_IMAGE_NAME).map(|n| normalize(n));
    let ref_name = annotations.get(ANNOTATION_REF_NAME).map(|n| {
        if is_full_name(n) {
            normalize(n)
        } else {
            n.clone()
        }
    });
    let mut names: Vec<String> = image_name.iter().cloned().collect();
    if let Some(ref_name) = ref_name {
        let redundant = image_name.as_deref().is_some_and(|full| {
            full == ref_name
                || ImageReference::parse(full).is_ok_and(|r| r.tag() == Some(&ref_name))
        });
        if !redundant {
            names.push(ref_name);
        }
    }
    names
}

/// The names a docker `manifest.json` entry's `RepoTags` give.
pub(crate) fn from_repo_tags(tags: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in tags.iter().map(|tag| normalize(tag)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// True when `wanted` names an image known as `names`: the same text, or the same
/// reference once both are normalized (`busybox` matches `docker.io/library/busybox:latest`).
pub(crate) fn matches(names: &[String], wanted: &str) -> bool {
    let normalized = ImageReference::parse(wanted).ok().map(|r| r.to_string());
    names
        .iter()
        .any(|name| name == wanted || normalized.as_ref() == Some(name))
}

/// Picks the image named `wanted` among `candidates`, or the first one for `None`.
pub(crate) fn pick<'a, T>(
    candidates: &'a [T],
    names_of: impl Fn(&T) -> &[String],
    wanted: Option<&str>,
    archive: &Path,
) -> Result<&'a T, ArchiveError> {
    let found = match wanted {
        None => candidates.first(),
        Some(wanted) => candidates.iter().find(|c| matches(names_of(c), wanted)),
    };
    found.ok_or_else(|| match wanted {
        None => ArchiveError::NoImages {
            archive: archive.to_path_buf(),
        },
        Some(wanted) => ArchiveError::ImageNotFound {
            archive: archive.to_path_buf(),
            wanted: wanted.to_string(),
            available: describe(candidates.iter().map(&names_of)),
        },
    })
}

/// `a, b, <unnamed>`: every name of every candidate, for an error message.
fn describe<'a>(all_names: impl Iterator<Item = &'a [String]>) -> String {
    let listed: Vec<String> = all_names
        .map(|names| {
            if names.is_empty() {
                "<unnamed>".to_string()
            } else {
                names.join(" / ")
            }
        })
        .collect();
    crate::error::list_for_message(&listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn buildkit_annotations_give_one_full_name() {
        let a = annotations(&[
            (ANNOTATION_IMAGE_NAME, "docker.io/library/app:1.0"),
            (ANNOTATION_REF_NAME, "1.0"),
        ]);
        assert_eq!(from_annotations(Some(&a)), ["docker.io/library/app:1.0"]);
    }

    #[test]
    fn bare_ref_names_are_tags_and_full_ones_are_normalized() {
        let bare = annotations(&[(ANNOTATION_REF_NAME, "latest")]);
        assert_eq!(from_annotations(Some(&bare)), ["latest"]);
        let full = annotations(&[(ANNOTATION_REF_NAME, "busybox:1.36")]);
        assert_eq!(
            from_annotations(Some(&full)),
            ["docker.io/library/busybox:1.36"]
        );
        assert!(from_annotations(None).is_empty());
    }

    #[test]
    fn repo_tags_normalize_and_dedupe() {
        let tags = [
            "busybox:latest".to_string(),
            "docker.io/library/busybox".to_string(),
        ];
        assert_eq!(from_repo_tags(&tags), ["docker.io/library/busybox:latest"]);
    }

    #[test]
    fn wanted_names_match_exactly_or_after_normalization() {
        let names = vec![
            "docker.io/library/busybox:latest".to_string(),
            "v1".to_string(),
        ];
        assert!(matches(&names, "busybox"));
        assert!(matches(&names, "v1"));
        assert!(!matches(&names, "busybox:1.0"));
        let candidates = vec![names, Vec::new()];
        let err = pick(&candidates, |c| c, Some("alpine"), Path::new("x.tar")).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("docker.io/library/busybox:latest / v1, <unnamed>"),
            "{message}"
        );
    }
}

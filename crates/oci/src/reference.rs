//! `ImageReference`: an image name normalized as Docker does, so that `busybox`,
//! `library/busybox:latest` and `docker.io/library/busybox:latest` name the same image.
//!
//! Parsing follows the grammar of `distribution/reference`; nothing here contacts a registry.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

/// A fully qualified image reference: registry domain, repository path, and a tag and/or
/// a digest. A reference parsed without either gets the tag `latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageReference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: image name is empty")]
    Empty,
    #[error("invalid reference format: repository name {0:?} must be lowercase")]
    Uppercase(String),
    #[error("invalid reference format: {0:?} is not a valid image name")]
    BadName(String),
    #[error("invalid reference format: {0:?} is not a valid tag")]
    BadTag(String),
    #[error("invalid reference format: {0}")]
    BadDigest(String),
    #[error("invalid reference format: repository name {0:?} is longer than 255 characters")]
    TooLong(String),
}

impl ImageReference {
    /// Parses and normalizes a reference the way `docker pull` does.
    pub fn parse(input: &str) -> Result<ImageReference, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    digest
                        .parse::<Digest>()
                        .map_err(|e| ReferenceError::BadDigest(e.to_string()))?,
                ),
            ),
            None => (input, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(ReferenceError::BadTag(tag.to_string()));
            }
        }
        let (domain, path) = split_domain(name)?;
        if path.len() + domain.len() + 1 > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong(name.to_string()));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(name.to_string()));
        }
        if !path.split('/').all(valid_path_component) || !valid_domain(&domain) {
            return Err(ReferenceError::BadName(name.to_string()));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(ImageReference {
            domain,
            path,
            tag,
            digest,
        })
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path` without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form `docker images` shows: `busybox:latest` for official images,
    /// `user/app:1.0` for other Docker Hub images, the full name elsewhere.
    pub fn familiar(&self) -> String {
        let mut name = if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_REPO_PREFIX)
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        };
        self.append_tag_and_digest(&mut name);
        name
    }

    /// The familiar repository without tag (`busybox`, `registry:5000/app`).
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix(OFFICIAL_REPO_PREFIX)
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        }
    }

    fn append_tag_and_digest(&self, name: &mut String) {
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(&digest.to_string());
        }
    }
}

fn split_tag(name: &str) -> (&str, Option<&str>) {
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    }
}

fn split_domain(name: &str) -> Result<(String, String), ReferenceError> {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if path.is_empty() {
        return Err(ReferenceError::BadName(name.to_string()));
    }
    let domain = if domain == LEGACY_DEFAULT_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{path}")
    } else {
        path
    };
    Ok((domain, path))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, checked on the lowercased component (case is
/// reported separately with a clearer message).
fn valid_path_component(component: &str) -> bool {
    let bytes = component.to_ascii_lowercase().into_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let separator = &bytes[start..i];
        let allowed = separator == b"."
            || separator == b"_"
            || separator == b"__"
            || separator.iter().all(|&b| b == b'-');
        if !allowed || i == bytes.len() {
            return false;
        }
    }
    true
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&b| word(b) || b == b'.' || b == b'-')
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut name = self.repository();
        self.append_tag_and_digest(&mut name);
        f.write_str(&name)
    }
}

impl serde::Serialize for ImageReference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ImageReference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ImageReference::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl FromStr for ImageReference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageReference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        ImageReference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_hub_names_normalize() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("library/busybox:1.36"),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(
            full("index.docker.io/user/app"),
            "docker.io/user/app:latest"
        );
        assert_eq!(full("user/app:v1"), "docker.io/user/app:v1");
    }

    #[test]
    fn registries_with_ports_and_localhost_keep_their_domain() {
        assert_eq!(full("localhost/app"), "localhost/app:latest");
        assert_eq!(full("127.0.0.1:5000/a/b:c"), "127.0.0.1:5000/a/b:c");
        assert_eq!(
            full("registry.example.com/app"),
            "registry.example.com/app:latest"
        );
    }

    #[test]
    fn digests_drop_the_default_tag() {
        let d = Digest::of(b"x");
        let r = ImageReference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(&d));
        assert_eq!(r.familiar(), format!("busybox@{d}"));
    }

    #[test]
    fn familiar_names_shorten_docker_hub() {
        let r = ImageReference::parse("docker.io/library/busybox:latest").unwrap();
        assert_eq!(r.familiar(), "busybox:latest");
        let r = ImageReference::parse("localhost:5000/app:1").unwrap();
        assert_eq!(r.familiar(), "localhost:5000/app:1");
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(matches!(
            ImageReference::parse("Busybox"),
            Err(ReferenceError::Uppercase(_))
        ));
        assert!(ImageReference::parse("").is_err());
        assert!(ImageReference::parse("app:").is_err());
        assert!(ImageReference::parse("app:-x").is_err());
        assert!(ImageReference::parse("a//b").is_err());
        assert!(ImageReference::parse("a_-b").is_err());
        assert!(ImageReference::parse("app@sha256:xyz").is_err());
        assert!(ImageReference::parse("-app").is_err());
    }
}

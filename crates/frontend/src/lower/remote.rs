//! ADD's remote sources, recognized as BuildKit recognizes them: git repositories
//! (`https://host/repo.git`, `git@host:repo.git`, `git://…`, `ssh://…`, with a `#ref:subdir`
//! or `##ref=…,subdir=…` fragment or a `?ref=…&subdir=…` query) and other HTTP(S) URLs; each
//! becomes the solver's `RemoteSource` and the path the copy takes from what it fetches (the
//! URL's file name, the repository's subdirectory).
//!
//! Nothing is fetched here, and `./x.git` or `github.com/x` stay local paths.

use rbuild_graph::{GitSource, HttpSource, RemoteSource};
use rbuild_oci::Digest;

use crate::error::Fault;

/// The name BuildKit gives a download whose URL path names no file.
const UNNAMED_DOWNLOAD: &str = "__unnamed__";

/// Where a COPY/ADD source word points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SourceKind {
    Local,
    Url,
    Git,
}

impl SourceKind {
    /// Classifies a source as BuildKit's `isGitSource` / `isHTTPSource` do.
    pub(super) fn of(source: &str) -> SourceKind {
        if source.starts_with("./")
            || source.starts_with("../")
            || source.starts_with("github.com/")
        {
            return SourceKind::Local;
        }
        match scheme(source).as_deref() {
            Some("http" | "https") if url_path(source).ends_with(".git") => SourceKind::Git,
            Some("http" | "https") => SourceKind::Url,
            Some("git" | "ssh") => SourceKind::Git,
            Some(_) => SourceKind::Local,
            None if is_scp_like(source) => SourceKind::Git,
            None => SourceKind::Local,
        }
    }

    pub(super) fn is_remote(self) -> bool {
        self != SourceKind::Local
    }

    /// How messages name the kind.
    pub(super) fn noun(self) -> &'static str {
        match self {
            SourceKind::Local => "local path",
            SourceKind::Url => "URL",
            SourceKind::Git => "git ref",
        }
    }
}

/// A build context given as a git URL is not one.
#[derive(Debug, thiserror::Error)]
#[error("invalid git context {url:?}: {reason}")]
pub struct GitContextError {
    pub url: String,
    pub reason: String,
}

/// A build context given as a git repository (`https://host/repo.git#ref:subdir`,
/// `git://…`, `git@host:repo`), read as ADD reads git sources: the repository and the
/// subdirectory to build in (`.` for its root). `None` when `text` is no git URL.
pub fn git_context(text: &str) -> Option<Result<(GitSource, String), GitContextError>> {
    if SourceKind::of(text) != SourceKind::Git {
        return None;
    }
    let flags = RemoteFlags {
        checksum: None,
        keep_git_dir: None,
    };
    Some(match git_source(text, &flags) {
        Ok((RemoteSource::Git(source), subdir)) => Ok((source, subdir)),
        Ok(_) => Err(GitContextError {
            url: text.to_string(),
            reason: "not a git repository".to_string(),
        }),
        Err(fault) => Err(GitContextError {
            url: text.to_string(),
            reason: fault.message,
        }),
    })
}

/// ADD's flags that concern remote sources, expanded.
pub(super) struct RemoteFlags<'a> {
    pub checksum: Option<&'a str>,
    pub keep_git_dir: Option<bool>,
}

/// The remote source `source` names and the path the copy takes from it.
pub(super) fn remote_source(
    source: &str,
    flags: &RemoteFlags<'_>,
) -> Result<(RemoteSource, String), Fault> {
    match SourceKind::of(source) {
        SourceKind::Git => git_source(source, flags),
        _ => http_source(source, flags.checksum),
    }
}

fn http_source(url: &str, checksum: Option<&str>) -> Result<(RemoteSource, String), Fault> {
    let checksum = checksum
        .map(|text| {
            text.parse::<Digest>().map_err(|e| {
                Fault::instruction(format!("invalid checksum {text:?}: {e}")).focus(text)
            })
        })
        .transpose()?;
    let source = RemoteSource::Http(HttpSource {
        url: url.to_string(),
        checksum,
    });
    Ok((source, download_name(url)))
}

/// The last segment of the URL's path, decoded, as BuildKit names a download.
fn download_name(url: &str) -> String {
    let decoded = percent_decode(url_path(url));
    match decoded.trim_end_matches('/').rsplit('/').next() {
        Some(name) if !name.is_empty() && name != "." && name != ".." => name.to_string(),
        _ => UNNAMED_DOWNLOAD.to_string(),
    }
}

fn git_source(text: &str, flags: &RemoteFlags<'_>) -> Result<(RemoteSource, String), Fault> {
    let fault = |message: String| Fault::instruction(message).focus(text);
    let (without_fragment, fragment) = split_once_or_all(text, '#');
    let (remote, query) = match scheme(text) {
        Some(_) => split_once_or_all(without_fragment, '?'),
        None => (without_fragment, None),
    };
    let mut parts = GitRefParts::default();
    if let Some(fragment) = fragment {
        parts.read_fragment(fragment).map_err(fault)?;
    }
    if let Some(query) = query {
        parts.read_query(query).map_err(fault)?;
    }
    let keep_git_dir = agree(flags.keep_git_dir, parts.keep_git_dir, |_, _| {
        "inconsistent keep-git-dir configuration".to_string()
    })
    .map_err(fault)?;
    let flag_checksum = flags.checksum.map(str::to_ascii_lowercase);
    let checksum = agree(flag_checksum, parts.checksum.clone(), |a, b| {
        format!("checksum mismatch {a:?} != {b:?}")
    })
    .map_err(fault)?;
    if let Some(checksum) = &checksum {
        if checksum.len() < 7 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
            let culprit = if flags.checksum.is_some() {
                "--checksum"
            } else {
                text
            };
            return Err(Fault::instruction(format!(
                "invalid git checksum {checksum:?}: expected a commit id (at least 7 hex digits)"
            ))
            .focus(culprit));
        }
    }
    let reference = parts.reference.or_else(|| parts.checksum.clone());
    let subdir = parts.subdir.trim_matches('/');
    let path = if subdir.is_empty() { "." } else { subdir };
    let source = RemoteSource::Git(GitSource {
        remote: remote.to_string(),
        reference: reference.filter(|r| !r.is_empty()),
        checksum,
        keep_git_dir: keep_git_dir.unwrap_or(false),
        submodules: parts.submodules.unwrap_or(true),
    });
    Ok((source, path.to_string()))
}

/// What a git source's fragment and query say.
#[derive(Default)]
struct GitRefParts {
    reference: Option<String>,
    subdir: String,
    checksum: Option<String>,
    keep_git_dir: Option<bool>,
    submodules: Option<bool>,
}

impl GitRefParts {
    /// `ref:subdir`, or BuildKit's CSV form `#ref=…,commit=…,subdir=…` (after `##`).
    fn read_fragment(&mut self, fragment: &str) -> Result<(), String> {
        let Some(fields) = fragment.strip_prefix('#') else {
            let (reference, subdir) = split_once_or_all(fragment, ':');
            self.reference = Some(reference.to_string());
            self.subdir = subdir.unwrap_or_default().to_string();
            return Ok(());
        };
        for field in fields.split(',').filter(|f| !f.is_empty()) {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
            match key.to_ascii_lowercase().as_str() {
                "ref" => self.reference = Some(value.to_string()),
                "commit" => self.checksum = Some(value.to_ascii_lowercase()),
                "subdir" => self.subdir = value.to_string(),
                other => return Err(unexpected_fragment_key(other, field)),
            }
        }
        Ok(())
    }

    /// `?ref=…&tag=…&branch=…&subdir=…&checksum=…&keep-git-dir=…&submodules=…`.
    fn read_query(&mut self, query: &str) -> Result<(), String> {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = split_once_or_all(pair, '=');
            let value = percent_decode(value.unwrap_or_default());
            let reference = match key {
                "ref" => Some(value.clone()),
                "tag" => Some(prefixed("refs/tags/", &value)),
                "branch" => Some(prefixed("refs/heads/", &value)),
                _ => None,
            };
            match key {
                _ if reference.is_some() => {
                    self.reference = agree(self.reference.take(), reference, |a, b| {
                        format!("ref conflicts: {a:?} vs {b:?}")
                    })?;
                }
                "subdir" => self.subdir = value,
                "checksum" | "commit" => self.checksum = Some(value.to_ascii_lowercase()),
                "keep-git-dir" => self.keep_git_dir = Some(query_bool(key, &value)?),
                "submodules" => self.submodules = Some(query_bool(key, &value)?),
                other => return Err(format!("unexpected query {other:?}")),
            }
        }
        Ok(())
    }
}

fn unexpected_fragment_key(key: &str, field: &str) -> String {
    format!("unexpected key '{key}' in '{field}' (supported keys: ref, commit, subdir)")
}

fn prefixed(prefix: &str, name: &str) -> String {
    if name.starts_with(prefix) {
        name.to_string()
    } else {
        format!("{prefix}{name}")
    }
}

/// A boolean query value; an empty one means true.
fn query_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid {key} value: {value:?}")),
    }
}

/// One value from two places that must not contradict each other.
fn agree<T: PartialEq + std::fmt::Debug>(
    a: Option<T>,
    b: Option<T>,
    conflict: impl Fn(&T, &T) -> String,
) -> Result<Option<T>, String> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(conflict(&a, &b)),
        (a, b) => Ok(a.or(b)),
    }
}

/// The lowercase scheme of `scheme://…`, if the text starts with one.
fn scheme(text: &str) -> Option<String> {
    let (scheme, _) = text.split_once("://")?;
    let valid = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| scheme.to_ascii_lowercase())
}

/// The path of a `scheme://authority/path?query#fragment` URL, still encoded.
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
    let path = &after_scheme[path_start..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// `user@host:path`, git's scp-like syntax for ssh.
fn is_scp_like(text: &str) -> bool {
    let Some((user, rest)) = text.split_once('@') else {
        return false;
    };
    let Some((host, path)) = rest.split_once(':') else {
        return false;
    };
    let user_ok = !user.is_empty()
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    user_ok && host_ok && !path.is_empty()
}

fn split_once_or_all(text: &str, separator: char) -> (&str, Option<&str>) {
    match text.split_once(separator) {
        Some((before, after)) => (before, Some(after)),
        None => (text, None),
    }
}

/// Decodes `%XX` escapes; malformed ones stay as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;

//! Lexical path arithmetic inside the image: Go's `path.Clean`, WORKDIR resolution and COPY
//! destinations relative to the working directory (keeping a trailing `/`, which means
//! "into this directory").
//!
//! Purely textual (cleaning is `rbuild_fileop::clean_path`, Go's `path.Clean`): symlinks
//! inside the image are resolved when files are actually copied.

use rbuild_fileop::clean_path as clean;

/// `path` made absolute against `base` (a directory) and cleaned.
pub(crate) fn absolute(base: &str, path: &str) -> String {
    if path.starts_with('/') {
        clean(path)
    } else {
        clean(&format!("/{base}/{path}"))
    }
}

/// The new working directory after `WORKDIR requested` from `current`, as BuildKit's
/// `NormalizeWorkdir` records it: an absolute path is kept exactly as written (`/tmp/`
/// keeps its slash, nothing is cleaned); a relative one is joined to `current` and cleaned.
pub(crate) fn workdir(current: &str, requested: &str) -> Result<String, String> {
    if requested.is_empty() {
        return Err("cannot normalize nothing".to_string());
    }
    if requested.starts_with('/') {
        return Ok(requested.to_string());
    }
    Ok(absolute(
        if current.is_empty() { "/" } else { current },
        requested,
    ))
}

/// A COPY/ADD destination resolved against the working directory. A trailing `/` (or
/// `/.`, or a bare `.`) is kept: it makes the destination a directory.
pub(crate) fn copy_destination(workdir: &str, dest: &str) -> String {
    let dest = if dest.is_empty() || dest == "." {
        "./"
    } else {
        dest
    };
    let resolved = absolute(if workdir.is_empty() { "/" } else { workdir }, dest);
    let wants_dir = dest.ends_with('/') || dest.ends_with("/.");
    if wants_dir && !resolved.ends_with('/') {
        format!("{resolved}/")
    } else {
        resolved
    }
}

/// The last component of a cleaned path (`/run/secrets/token` → `token`).
pub(crate) fn base_name(path: &str) -> String {
    let cleaned = clean(path);
    match cleaned.rsplit_once('/') {
        Some((_, "")) => "/".to_string(),
        Some((_, last)) => last.to_string(),
        None => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_resolves_relative_paths() {
        assert_eq!(workdir("/", "app").unwrap(), "/app");
        assert_eq!(workdir("/app", "src/../lib").unwrap(), "/app/lib");
        assert_eq!(
            workdir("/app", "/srv/").unwrap(),
            "/srv/",
            "absolute: as written"
        );
        assert_eq!(workdir("/", "/a//b/../c").unwrap(), "/a//b/../c");
        assert_eq!(
            workdir("/srv/", "x/").unwrap(),
            "/srv/x",
            "relative: joined, cleaned"
        );
        assert_eq!(workdir("", "x").unwrap(), "/x");
        assert!(workdir("/", "").is_err());
    }

    #[test]
    fn copy_destinations_keep_the_directory_slash() {
        assert_eq!(copy_destination("/app", "."), "/app/");
        assert_eq!(copy_destination("/app", "bin/"), "/app/bin/");
        assert_eq!(copy_destination("/app", "bin"), "/app/bin");
        assert_eq!(copy_destination("/", "/etc/x/."), "/etc/x/");
        assert_eq!(copy_destination("/", "/"), "/");
        assert_eq!(copy_destination("/app", "../x"), "/x");
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("/run/secrets/token"), "token");
        assert_eq!(base_name("id"), "id");
        assert_eq!(base_name("/"), "/");
    }
}

//! Lexical path cleaning with Go's `path.Clean` rules, on '/'-separated strings.
//!
//! Docker applies these rules to .dockerignore patterns, COPY sources and destinations before
//! anything touches the filesystem. This module never looks at the filesystem, so it cannot
//! know about symlinks; `scoped` resolves paths against a real root.

/// Returns the shortest path equivalent to `path` by purely lexical processing (Go's
/// `path.Clean`): repeated slashes collapse, `.` elements vanish, `..` removes the element
/// before it, `..` at the start of a rooted path vanishes, and the empty result is `.`.
pub fn clean_path(path: &str) -> String {
    if is_clean(path) {
        return path.to_string();
    }
    let rooted = path.starts_with('/');
    let mut kept: Vec<&str> = Vec::new();
    for element in path.split('/') {
        match element {
            "" | "." => {}
            ".." => match kept.last() {
                Some(&last) if last != ".." => {
                    kept.pop();
                }
                _ if rooted => {}
                _ => kept.push(".."),
            },
            other => kept.push(other),
        }
    }
    let joined = kept.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Whether `path` is already what `clean_path` would make of it, judged cheaply: `/`, or
/// non-empty elements none of which is `.` or `..` (most paths are; they skip the rebuild).
fn is_clean(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let body = path.strip_prefix('/').unwrap_or(path);
    !body.is_empty()
        && body
            .split('/')
            .all(|element| !element.is_empty() && element != "." && element != "..")
}

/// Cleans `path` as if it were rooted and returns it without the leading `/`: the form of a
/// path relative to a root that `..` can never leave. The root itself is `""`.
pub(crate) fn clean_relative(path: &str) -> String {
    let cleaned = clean_path(&format!("/{path}"));
    cleaned[1..].to_string()
}

/// The last element of a cleaned relative path (`"a/b"` → `"b"`).
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The parent of a cleaned relative path (`"a/b"` → `"a"`, `"a"` → `""`).
pub(crate) fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..slash])
}

/// Joins two relative paths where either may be empty (the root).
pub(crate) fn join_relative(base: &str, child: &str) -> String {
    match (base.is_empty(), child.is_empty()) {
        (true, _) => child.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}/{child}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_follows_go_path_clean() {
        let cases = [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ];
        for (input, expected) in cases {
            assert_eq!(clean_path(input), expected, "clean_path({input:?})");
        }
    }

    #[test]
    fn relative_cleaning_never_leaves_the_root() {
        assert_eq!(clean_relative("../../etc/passwd"), "etc/passwd");
        assert_eq!(clean_relative("/"), "");
        assert_eq!(clean_relative("./a/./b/"), "a/b");
        assert_eq!(base_name("a/b"), "b");
        assert_eq!(parent_of("a/b/c"), "a/b");
        assert_eq!(parent_of("a"), "");
        assert_eq!(join_relative("", "x"), "x");
        assert_eq!(join_relative("a", "x"), "a/x");
    }
}

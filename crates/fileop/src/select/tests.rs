use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A small build context:
/// ```text
/// Dockerfile  README.md  app.py  home.txt  homedir/{a.md,b.txt}
/// src/{main.rs, lib/{mod.rs, util.rs}, link -> lib}  docs/{README.md, guide.md}
/// build/out.o  top-link -> src
/// ```
fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for rel in [
        "Dockerfile",
        "README.md",
        "app.py",
        "home.txt",
        "homedir/a.md",
        "homedir/b.txt",
        "src/main.rs",
        "src/lib/mod.rs",
        "src/lib/util.rs",
        "docs/README.md",
        "docs/guide.md",
        "build/out.o",
    ] {
        write(root, rel, rel);
    }
    symlink("lib", root.join("src/link")).unwrap();
    symlink("/src", root.join("top-link")).unwrap();
    dir
}

fn select(
    root: &Path,
    sources: &[&str],
    excludes: &[&str],
    source_excludes: &[&str],
    follow: bool,
) -> Result<Vec<SourceMatch>, SelectError> {
    let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let excludes = PathPatterns::new(&owned(excludes)).unwrap();
    let source_excludes = PathPatterns::new(&owned(source_excludes)).unwrap();
    let opts = SelectOptions {
        excludes: &excludes,
        follow_top_symlinks: follow,
        allow_empty_wildcard: false,
    };
    select_sources_excluding(root, &owned(sources), &opts, &source_excludes)
}

fn paths(found: &SourceMatch) -> Vec<&str> {
    found.entries.iter().map(|e| e.rel_path.as_str()).collect()
}

#[test]
fn directory_match_lists_descendants_in_walk_order() {
    let ctx = context();
    let found = select(ctx.path(), &["src"], &[], &[], true).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].rel_path, "src");
    assert_eq!(
        paths(&found[0]),
        [
            "src",
            "src/lib",
            "src/lib/mod.rs",
            "src/lib/util.rs",
            "src/link",
            "src/main.rs"
        ]
    );
    assert_eq!(found[0].entries[4].kind, EntryKind::Symlink("lib".into()));
    assert_eq!(found[0].path_within(&found[0].entries[2]), "lib/mod.rs");
    assert_eq!(found[0].path_within(&found[0].entries[0]), "");
}

#[test]
fn whole_context_and_dockerignore() {
    let ctx = context();
    let found = select(
        ctx.path(),
        &["."],
        &["build", "*.md", "src/lib/util.rs"],
        &[],
        true,
    )
    .unwrap();
    let all = paths(&found[0]);
    assert_eq!(all[0], ".");
    assert!(
        all.contains(&"docs/README.md"),
        "*.md only matches at the root: {all:?}"
    );
    for hidden in ["build", "build/out.o", "README.md", "src/lib/util.rs"] {
        assert!(
            !all.contains(&hidden),
            "{hidden} should be excluded: {all:?}"
        );
    }
    assert_eq!(
        found[0].path_within(&found[0].entries[1]),
        found[0].entries[1].rel_path
    );
}

#[test]
fn exception_below_excluded_directory_brings_the_directory_back() {
    let ctx = context();
    let found = select(ctx.path(), &["."], &["docs", "!docs/README.md"], &[], true).unwrap();
    let all = paths(&found[0]);
    assert!(
        all.contains(&"docs") && all.contains(&"docs/README.md"),
        "{all:?}"
    );
    assert!(!all.contains(&"docs/guide.md"), "{all:?}");
    let docs = select(
        ctx.path(),
        &["docs"],
        &["docs", "!docs/README.md"],
        &[],
        true,
    )
    .unwrap();
    assert_eq!(paths(&docs[0]), ["docs", "docs/README.md"]);
}

#[test]
fn literal_sources_that_are_missing_or_ignored_are_errors() {
    let ctx = context();
    let err = select(ctx.path(), &["nope.txt"], &[], &[], true).unwrap_err();
    assert!(
        matches!(&err, SelectError::SourceNotFound { name } if name == "nope.txt"),
        "{err}"
    );
    assert!(err.to_string().contains("excluded by .dockerignore"));
    let err = select(
        ctx.path(),
        &["build/out.o"],
        &["*.md", "build", "!x"],
        &[],
        true,
    )
    .unwrap_err();
    assert!(
        matches!(&err, SelectError::SourceExcluded { rule, .. } if rule == "build"),
        "the rule that excluded it is named: {err}"
    );
    let err = select(ctx.path(), &["app.py/inner"], &[], &[], true).unwrap_err();
    assert!(matches!(err, SelectError::SourceNotFound { .. }), "{err}");
}

#[test]
fn wildcards_expand_sorted_and_skip_ignored_paths() {
    let ctx = context();
    let found = select(
        ctx.path(),
        &["*.md", "src/*/*.rs", "hom*"],
        &["README.md"],
        &[],
        true,
    )
    .unwrap();
    let matched: Vec<(&str, &str)> = found
        .iter()
        .map(|m| (m.source.as_str(), m.rel_path.as_str()))
        .collect();
    assert_eq!(
        matched,
        [
            ("src/*/*.rs", "src/lib/mod.rs"),
            ("src/*/*.rs", "src/lib/util.rs"),
            ("hom*", "home.txt"),
            ("hom*", "homedir"),
        ]
    );
}

#[test]
fn empty_wildcards_fail_only_when_nothing_matched() {
    let ctx = context();
    assert_eq!(
        select(ctx.path(), &["*.nothing", "app.py"], &[], &[], true)
            .unwrap()
            .len(),
        1
    );
    let err = select(ctx.path(), &["*.nothing", "x*.none"], &[], &[], true).unwrap_err();
    assert!(matches!(err, SelectError::NothingMatched { .. }), "{err}");
    let owned = vec!["*.nothing".to_string()];
    let none = PathPatterns::default();
    let opts = SelectOptions {
        excludes: &none,
        follow_top_symlinks: true,
        allow_empty_wildcard: true,
    };
    assert!(select_sources(ctx.path(), &owned, &opts)
        .unwrap()
        .is_empty());
}

#[test]
fn top_level_symlinks_are_followed_only_when_asked() {
    let ctx = context();
    let followed = select(ctx.path(), &["top-link"], &[], &[], true).unwrap();
    assert_eq!(followed[0].rel_path, "top-link");
    assert_eq!(followed[0].entries[0].kind, EntryKind::Dir);
    assert!(paths(&followed[0]).contains(&"top-link/lib/mod.rs"));
    assert_eq!(
        followed[0].entries[2].host_path,
        ctx.path().join("src/lib/mod.rs")
    );
    let kept = select(ctx.path(), &["top-link"], &[], &[], false).unwrap();
    assert_eq!(kept[0].entries.len(), 1);
    assert_eq!(kept[0].entries[0].kind, EntryKind::Symlink("/src".into()));
    let through = select(ctx.path(), &["src/link/mod.rs"], &[], &[], true).unwrap();
    assert_eq!(
        through[0].entries[0].host_path,
        ctx.path().join("src/lib/mod.rs")
    );
}

#[test]
fn copy_excludes_are_relative_to_each_source() {
    let ctx = context();
    let found = select(ctx.path(), &["src"], &[], &["lib/util.rs", "main.rs"], true).unwrap();
    assert_eq!(
        paths(&found[0]),
        ["src", "src/lib", "src/lib/mod.rs", "src/link"]
    );
    let found = select(ctx.path(), &["hom*"], &[], &["*.txt"], true).unwrap();
    let names: Vec<&str> = found.iter().flat_map(paths).collect();
    assert_eq!(names, ["homedir", "homedir/a.md"]);
}

#[test]
fn dot_dot_cannot_leave_the_root() {
    let ctx = context();
    let found = select(ctx.path(), &["../../../app.py"], &[], &[], true).unwrap();
    assert_eq!(found[0].rel_path, "app.py");
    assert_eq!(found[0].source, "../../../app.py");
    let entry = &found[0].entries[0];
    assert_eq!((entry.kind.clone(), entry.size), (EntryKind::File, 6));
}

#[test]
fn bad_wildcards_name_the_source() {
    let ctx = context();
    let err = select(ctx.path(), &["src/[*"], &[], &[], true).unwrap_err();
    assert!(
        matches!(&err, SelectError::BadWildcard { name, .. } if name == "src/[*"),
        "{err}"
    );
}

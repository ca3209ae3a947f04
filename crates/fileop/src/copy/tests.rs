use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use filetime::FileTime;

use super::*;
use crate::patterns::PathPatterns;
use crate::select::{select_sources, SelectOptions};

const CAPABILITY: &str = "security.capability";
/// A version-2 file capability granting CAP_CHOWN, effective.
const CAP_CHOWN_V2: [u8; 20] = [1, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn write(root: &Path, rel: &str, text: &str, mode: u32) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Context: `app/{bin/tool (0755), etc/app.conf (0640), current -> bin/tool}`, `notes.txt`,
/// `docs/{a.md,b.md}`, `link-to-notes -> notes.txt`, all owned by 4242:4242, mtime 1e9.
fn context() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "app/bin/tool", "#!/bin/sh\necho tool\n", 0o755);
    write(root, "app/etc/app.conf", "key=value\n", 0o640);
    write(root, "notes.txt", "notes\n", 0o644);
    write(root, "docs/a.md", "a\n", 0o644);
    write(root, "docs/b.md", "b\n", 0o644);
    symlink("bin/tool", root.join("app/current")).unwrap();
    symlink("notes.txt", root.join("link-to-notes")).unwrap();
    for rel in [
        "app",
        "app/bin",
        "app/bin/tool",
        "app/etc",
        "app/etc/app.conf",
        "notes.txt",
        "docs/a.md",
    ] {
        std::os::unix::fs::lchown(root.join(rel), Some(4242), Some(4242)).unwrap();
        filetime::set_file_mtime(root.join(rel), FileTime::from_unix_time(1_000_000_000, 0))
            .unwrap();
    }
    dir
}

fn select(root: &Path, sources: &[&str], excludes: &[&str]) -> Vec<SourceMatch> {
    let excludes =
        PathPatterns::new(&excludes.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let opts = SelectOptions {
        excludes: &excludes,
        follow_top_symlinks: true,
        allow_empty_wildcard: false,
    };
    select_sources(
        root,
        &sources.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        &opts,
    )
    .unwrap()
}

fn copy(
    ctx: &Path,
    rootfs: &Path,
    sources: &[&str],
    dest: &str,
    opts: &CopyOptions,
) -> Result<(), CopyError> {
    copy_into_root(rootfs, dest, &select(ctx, sources, &[]), opts)
}

fn text(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path).unwrap()
}

fn mode(path: impl AsRef<Path>) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn owner(path: impl AsRef<Path>) -> (u32, u32) {
    let metadata = fs::symlink_metadata(path).unwrap();
    (metadata.uid(), metadata.gid())
}

#[test]
fn directory_match_copies_its_contents() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    copy(
        ctx.path(),
        rootfs.path(),
        &["app"],
        "/opt/app",
        &CopyOptions::default(),
    )
    .unwrap();
    let dest = rootfs.path().join("opt/app");
    assert_eq!(text(dest.join("bin/tool")), "#!/bin/sh\necho tool\n");
    assert!(
        !dest.join("app").exists(),
        "the directory itself must not be nested"
    );
    assert_eq!(mode(dest.join("bin/tool")), 0o755);
    assert_eq!(mode(dest.join("etc/app.conf")), 0o640);
    assert_eq!(
        fs::read_link(dest.join("current")).unwrap(),
        Path::new("bin/tool")
    );
    assert_eq!(mode(&dest), 0o755, "a created destination is 0755");
    let mtime = |rel: &str| fs::symlink_metadata(dest.join(rel)).unwrap().mtime();
    assert_eq!(
        (mtime("bin/tool"), mtime("etc"), mtime("bin")),
        (1_000_000_000, 1_000_000_000, 1_000_000_000)
    );
    for rel in ["", "bin", "bin/tool", "etc/app.conf", "current"] {
        assert_eq!(
            owner(dest.join(rel)),
            (0, 0),
            "{rel} must belong to root without --chown"
        );
    }
}

#[test]
fn a_directory_onto_a_new_name_is_created_like_the_source_directory() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let (src, root) = (ctx.path(), rootfs.path());
    fs::set_permissions(src.join("app/etc"), fs::Permissions::from_mode(0o700)).unwrap();
    filetime::set_file_mtime(src.join("app/etc"), FileTime::from_unix_time(2_000_000, 0)).unwrap();
    let opts = CopyOptions::default();
    copy(src, root, &["app/etc"], "/renamed", &opts).unwrap();
    assert_eq!(mode(root.join("renamed")), 0o700);
    let mtime = fs::symlink_metadata(root.join("renamed")).unwrap().mtime();
    assert_eq!(mtime, 2_000_000);
    assert_eq!(owner(root.join("renamed")), (0, 0));

    copy(src, root, &["app/etc"], "/into/", &opts).unwrap();
    assert_eq!(
        mode(root.join("into")),
        0o755,
        "a trailing / only receives contents"
    );
    fs::create_dir(root.join("existing")).unwrap();
    fs::set_permissions(root.join("existing"), fs::Permissions::from_mode(0o711)).unwrap();
    copy(src, root, &["app/etc"], "/existing", &opts).unwrap();
    assert_eq!(
        mode(root.join("existing")),
        0o711,
        "an existing directory is kept"
    );
    assert_eq!(text(root.join("existing/app.conf")), "key=value\n");

    let chmod_chown = CopyOptions {
        mode: Some(0o750),
        owner: Some((7, 8)),
        ..CopyOptions::default()
    };
    copy(src, root, &["app/etc"], "/deep/chmodded", &chmod_chown).unwrap();
    assert_eq!(mode(root.join("deep/chmodded")), 0o750);
    assert_eq!(owner(root.join("deep/chmodded")), (7, 8));
    assert_eq!(mode(root.join("deep")), 0o755, "missing parents are plain");
}

#[test]
fn trailing_slash_and_existing_directories_decide_file_destinations() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    let opts = CopyOptions::default();
    copy(ctx.path(), root, &["notes.txt"], "/into/", &opts).unwrap();
    assert_eq!(text(root.join("into/notes.txt")), "notes\n");
    copy(ctx.path(), root, &["notes.txt"], "/renamed.txt", &opts).unwrap();
    assert_eq!(text(root.join("renamed.txt")), "notes\n");
    copy(ctx.path(), root, &["docs/a.md"], "/into", &opts).unwrap();
    assert_eq!(
        text(root.join("into/a.md")),
        "a\n",
        "a file onto an existing directory goes inside"
    );
    copy(ctx.path(), root, &["docs/b.md"], "/renamed.txt", &opts).unwrap();
    assert_eq!(
        text(root.join("renamed.txt")),
        "b\n",
        "an existing file is replaced"
    );
}

#[test]
fn several_sources_or_wildcards_make_the_destination_a_directory() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    copy(
        ctx.path(),
        root,
        &["notes.txt", "docs"],
        "/multi",
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(text(root.join("multi/notes.txt")), "notes\n");
    assert_eq!(text(root.join("multi/a.md")), "a\n");
    let hinted = CopyOptions {
        dest_is_dir_hint: true,
        ..CopyOptions::default()
    };
    copy(ctx.path(), root, &["docs/a*"], "/wild", &hinted).unwrap();
    assert_eq!(text(root.join("wild/a.md")), "a\n");
}

#[test]
fn top_level_symlinks_copy_their_target_and_inner_ones_stay_links() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    copy(
        ctx.path(),
        root,
        &["link-to-notes"],
        "/d/",
        &CopyOptions::default(),
    )
    .unwrap();
    let copied = root.join("d/link-to-notes");
    assert!(fs::symlink_metadata(&copied).unwrap().is_file());
    assert_eq!(text(copied), "notes\n");
    copy(
        ctx.path(),
        root,
        &["app"],
        "/d/app",
        &CopyOptions::default(),
    )
    .unwrap();
    assert!(fs::symlink_metadata(root.join("d/app/current"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn destination_symlinks_resolve_inside_the_root() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    fs::create_dir(root.join("etc")).unwrap();
    symlink("/etc", root.join("cfg")).unwrap();
    symlink("../../../../../../etc", root.join("sneaky")).unwrap();
    let name = format!("rbuild-fileop-test-{}.conf", std::process::id());
    copy(
        ctx.path(),
        root,
        &["notes.txt"],
        &format!("/cfg/{name}"),
        &CopyOptions::default(),
    )
    .unwrap();
    copy(
        ctx.path(),
        root,
        &["docs"],
        "/sneaky/docs/",
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(text(root.join("etc").join(&name)), "notes\n");
    assert_eq!(text(root.join("etc/docs/a.md")), "a\n");
    assert!(
        !Path::new("/etc").join(&name).exists(),
        "the copy escaped to the host's /etc"
    );
}

#[test]
fn chown_and_chmod_apply_to_everything_copied() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    let opts = CopyOptions {
        owner: Some((1000, 1001)),
        mode: Some(0o600),
        ..CopyOptions::default()
    };
    copy(ctx.path(), root, &["app"], "/new/parent/app", &opts).unwrap();
    for rel in [
        "new",
        "new/parent",
        "new/parent/app",
        "new/parent/app/bin/tool",
        "new/parent/app/current",
    ] {
        assert_eq!(owner(root.join(rel)), (1000, 1001), "{rel}");
    }
    assert_eq!(mode(root.join("new/parent/app/bin/tool")), 0o600);
    assert_eq!(mode(root.join("new/parent/app/etc")), 0o600);
    assert_eq!(
        mode(root.join("new/parent")),
        0o755,
        "created parents are 0755"
    );
}

#[test]
fn parents_keep_the_matched_path() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    let opts = CopyOptions {
        parents: true,
        ..CopyOptions::default()
    };
    copy(ctx.path(), root, &["app/etc/app.conf", "docs"], "/p", &opts).unwrap();
    assert_eq!(text(root.join("p/app/etc/app.conf")), "key=value\n");
    assert_eq!(text(root.join("p/docs/b.md")), "b\n");
    copy(
        ctx.path(),
        root,
        &["./app/./etc/app.conf"],
        "/pivot/",
        &opts,
    )
    .unwrap();
    assert_eq!(text(root.join("pivot/etc/app.conf")), "key=value\n");
}

#[test]
fn excluded_files_are_not_copied() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    let matches = select(ctx.path(), &["."], &["docs/b.md", "app/etc"]);
    copy_into_root(root, "/ctx", &matches, &CopyOptions::default()).unwrap();
    assert!(root.join("ctx/docs/a.md").exists());
    assert!(!root.join("ctx/docs/b.md").exists());
    assert!(!root.join("ctx/app/etc").exists());
    assert!(root.join("ctx/app/bin/tool").exists());
}

#[test]
fn a_directory_where_a_file_goes_is_an_error() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let root = rootfs.path();
    fs::create_dir_all(root.join("d/notes.txt")).unwrap();
    let err = copy(
        ctx.path(),
        root,
        &["notes.txt"],
        "/d/",
        &CopyOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, CopyError::DirectoryInTheWay { path } if path == "/d/notes.txt"),
        "{err}"
    );
    fs::write(root.join("plain"), "x").unwrap();
    let err = copy(
        ctx.path(),
        root,
        &["docs"],
        "/plain/",
        &CopyOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, CopyError::NotADirectory { .. }), "{err}");
}

#[test]
fn extended_attributes_and_capabilities_are_copied() {
    let (ctx, rootfs) = (context(), tempfile::tempdir().unwrap());
    let tool = ctx.path().join("app/bin/tool");
    if let Err(err) = xattr::set(&tool, CAPABILITY, &CAP_CHOWN_V2) {
        println!("skipped: this filesystem refuses {CAPABILITY}: {err}");
        return;
    }
    xattr::set(&tool, "user.origin", b"context").unwrap();
    copy(
        ctx.path(),
        rootfs.path(),
        &["app"],
        "/app",
        &CopyOptions::default(),
    )
    .unwrap();
    let copied = rootfs.path().join("app/bin/tool");
    assert_eq!(
        xattr::get(&copied, CAPABILITY).unwrap().as_deref(),
        Some(&CAP_CHOWN_V2[..])
    );
    assert_eq!(
        xattr::get(&copied, "user.origin").unwrap().as_deref(),
        Some(&b"context"[..])
    );
}

#[test]
fn inline_files_are_written_like_source_files() {
    let rootfs = tempfile::tempdir().unwrap();
    let root = rootfs.path();
    let files = vec![("run.sh".to_string(), b"#!/bin/sh\n".to_vec(), 0o755)];
    write_inline_files(root, "/usr/local/bin/", &files, &CopyOptions::default()).unwrap();
    let path = root.join("usr/local/bin/run.sh");
    assert_eq!(text(&path), "#!/bin/sh\n");
    assert_eq!(mode(&path), 0o755);
    assert_eq!(fs::metadata(&path).unwrap().mtime(), 0);
    write_inline_files(
        root,
        "/etc/motd",
        &[("EOF".to_string(), b"hi\n".to_vec(), 0o644)],
        &CopyOptions::default(),
    )
    .unwrap();
    assert_eq!(text(root.join("etc/motd")), "hi\n");
}

#[test]
fn make_dir_all_creates_missing_directories_only() {
    let rootfs = tempfile::tempdir().unwrap();
    let root = rootfs.path();
    fs::create_dir(root.join("existing")).unwrap();
    symlink("/existing", root.join("via-link")).unwrap();
    make_dir_all(root, "/via-link/a/b", 0o750, Some((7, 8))).unwrap();
    assert_eq!(mode(root.join("existing/a/b")), 0o750);
    assert_eq!(owner(root.join("existing/a")), (7, 8));
    assert_eq!(
        owner(root.join("existing")),
        (0, 0),
        "existing directories are left alone"
    );
    fs::write(root.join("file"), "").unwrap();
    let err = make_dir_all(root, "/file/sub", 0o755, None).unwrap_err();
    assert!(
        matches!(&err, CopyError::NotADirectory { path } if path == "/file"),
        "{err}"
    );
}

#[test]
fn parents_pivot_is_computed_from_the_source() {
    let found = |source: &str, rel: &str| SourceMatch {
        source: source.to_string(),
        rel_path: rel.to_string(),
        entries: Vec::new(),
    };
    assert_eq!(kept_parents(&found("a/b/c", "a/b/c")), "a/b/c");
    assert_eq!(kept_parents(&found("./a/./b/c", "a/b/c")), "b/c");
    assert_eq!(
        kept_parents(&found("*/./x/*.txt", "dir/x/y.txt")),
        "x/y.txt"
    );
    assert_eq!(kept_parents(&found(".", ".")), "");
}

mod archives;

#[test]
fn files_written_in_parallel_batches_keep_metadata_links_and_the_first_error() {
    // More files than one batch, hard links whose first path is in an earlier batch.
    let (ctx, rootfs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for i in 0..600u32 {
        write(
            ctx.path(),
            &format!("many/f{i:03}"),
            &format!("{i}\n"),
            0o600 + i % 8,
        );
        filetime::set_file_mtime(
            ctx.path().join(format!("many/f{i:03}")),
            FileTime::from_unix_time(1_000_000_000 + i64::from(i), 7),
        )
        .unwrap();
    }
    fs::hard_link(ctx.path().join("many/f001"), ctx.path().join("many/z-link")).unwrap();
    let opts = CopyOptions {
        owner: Some((1000, 1001)),
        ..CopyOptions::default()
    };
    copy(ctx.path(), rootfs.path(), &["many"], "/out/", &opts).unwrap();
    for i in 0..600u32 {
        let path = rootfs.path().join(format!("out/f{i:03}"));
        assert_eq!(text(&path), format!("{i}\n"));
        assert_eq!(mode(&path), 0o600 + i % 8);
        assert_eq!(owner(&path), (1000, 1001));
        let mtime = FileTime::from_last_modification_time(&fs::metadata(&path).unwrap());
        assert_eq!(
            mtime,
            FileTime::from_unix_time(1_000_000_000 + i64::from(i), 7)
        );
    }
    let (first, link) = (
        fs::metadata(rootfs.path().join("out/f001")).unwrap(),
        fs::metadata(rootfs.path().join("out/z-link")).unwrap(),
    );
    assert_eq!(first.ino(), link.ino());

    // A file and a symlink already at a target are replaced.
    let replaced = tempfile::tempdir().unwrap();
    write(replaced.path(), "out/f002", "old\n", 0o644);
    symlink("/etc/passwd", replaced.path().join("out/f003")).unwrap();
    copy(ctx.path(), replaced.path(), &["many"], "/out/", &opts).unwrap();
    assert_eq!(text(replaced.path().join("out/f002")), "2\n");
    assert!(fs::symlink_metadata(replaced.path().join("out/f003"))
        .unwrap()
        .is_file());
    assert_eq!(text(replaced.path().join("out/f003")), "3\n");

    // Two directories in the way: the error names the first in placement order.
    let other = tempfile::tempdir().unwrap();
    fs::create_dir_all(other.path().join("out/f100")).unwrap();
    fs::create_dir_all(other.path().join("out/f500")).unwrap();
    let err = copy(ctx.path(), other.path(), &["many"], "/out/", &opts).unwrap_err();
    assert!(
        matches!(&err, CopyError::DirectoryInTheWay { path } if path == "/out/f100"),
        "{err}"
    );
}

//! End-to-end: COPY and ADD — files, directory contents, wildcards, destinations with and
//! without `/`, WORKDIR-relative destinations, `--from`, `--chown`, `--chmod`, `--link`,
//! `--exclude`, `--parents`, symlinks, .dockerignore (and `<Dockerfile>.dockerignore`),
//! and ADD's local archives.

mod common;
mod language_support;

use std::fs;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::{context_from, TestStore};
use language_support::{build, failed_build};

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `a.txt b.txt c.md tool.sh dir/{one.txt,sub/two.txt,inner-link -> ../a.txt}
/// link.txt -> a.txt linkdir -> dir other/o.txt`, everything owned by 4242:4242.
fn copy_context(dockerfile: &str) -> tempfile::TempDir {
    let context = context_from(&[
        ("Dockerfile", dockerfile),
        ("a.txt", "a\n"),
        ("b.txt", "b\n"),
        ("c.md", "c\n"),
        ("tool.sh", "#!/bin/sh\necho tool\n"),
        ("dir/one.txt", "one\n"),
        ("dir/sub/two.txt", "two\n"),
        ("other/o.txt", "o\n"),
    ]);
    let root = context.path();
    set_mode(&root.join("a.txt"), 0o644);
    set_mode(&root.join("tool.sh"), 0o755);
    symlink("../a.txt", root.join("dir/inner-link")).unwrap();
    symlink("a.txt", root.join("link.txt")).unwrap();
    symlink("dir", root.join("linkdir")).unwrap();
    for rel in ["a.txt", "b.txt", "tool.sh", "dir", "dir/one.txt", "dir/sub"] {
        lchown(root.join(rel), Some(4242), Some(4242)).unwrap();
    }
    context
}

#[test]
fn copy_places_files_directories_and_wildcards_like_docker() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = copy_context(
        "FROM busybox\n\
         WORKDIR /work\n\
         COPY a.txt /file-no-slash\n\
         COPY a.txt /new-dir/\n\
         COPY a.txt relative-file\n\
         COPY a.txt relative-dir/\n\
         COPY a.txt b.txt /several/\n\
         COPY tool.sh /bin/\n\
         COPY dir /dir-contents\n\
         COPY *.txt /wild/\n\
         COPY link.txt /followed-link\n\
         COPY linkdir /followed-dir\n\
         COPY [\"b.txt\", \"/json form/\"]\n",
    );
    let built = build(&store, context.path(), &[]);
    assert_eq!(built.read("file-no-slash"), "a\n");
    assert_eq!(built.read("new-dir/a.txt"), "a\n");
    assert_eq!(built.read("work/relative-file"), "a\n");
    assert_eq!(built.read("work/relative-dir/a.txt"), "a\n");
    assert_eq!(built.entries("several"), ["a.txt", "b.txt"]);
    assert_eq!(built.read("json form/b.txt"), "b\n");

    assert_eq!(built.mode("file-no-slash"), 0o644);
    assert_eq!(built.mode("bin/tool.sh"), 0o755, "permission bits are kept");
    assert_eq!(built.owner("file-no-slash"), (0, 0), "files belong to root");
    assert_eq!(built.owner("dir-contents/one.txt"), (0, 0));

    assert_eq!(
        built.entries("dir-contents"),
        ["inner-link", "one.txt", "sub"],
        "a directory copies its contents"
    );
    assert_eq!(built.read("dir-contents/sub/two.txt"), "two\n");
    assert_eq!(built.link_target("dir-contents/inner-link"), "../a.txt");
    assert_eq!(built.entries("wild"), ["a.txt", "b.txt", "link.txt"]);
    assert!(built.metadata("wild/link.txt").is_file());

    assert!(
        built.metadata("followed-link").is_file(),
        "a named symlink is followed"
    );
    assert_eq!(built.read("followed-link"), "a\n");
    assert!(built.metadata("followed-dir").is_dir());
    assert_eq!(built.read("followed-dir/one.txt"), "one\n");
    assert!(built.metadata("followed-dir/inner-link").is_symlink());
}

#[test]
fn copy_sets_owners_and_modes_from_chown_and_chmod() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = copy_context(
        "FROM busybox\n\
         RUN adduser -D -u 1234 appuser && addgroup -g 4321 grp\n\
         COPY --chown=appuser a.txt /chown-name\n\
         COPY --chown=1234 a.txt /chown-id\n\
         COPY --chown=appuser:grp a.txt /chown-name-group\n\
         COPY --chown=1234:4321 dir /chown-ids-dir\n\
         COPY --chmod=0740 a.txt /chmod-file\n\
         COPY --chmod=751 dir /chmod-dir\n\
         COPY --chown=appuser --chmod=600 b.txt /deep/new/both\n",
    );
    let built = build(&store, context.path(), &[]);
    assert_eq!(
        built.owner("chown-name"),
        (1234, 1234),
        "a name takes its group"
    );
    assert_eq!(
        built.owner("chown-id"),
        (1234, 1234),
        "a bare id is also the gid"
    );
    assert_eq!(built.owner("chown-name-group"), (1234, 4321));
    for rel in [
        "chown-ids-dir",
        "chown-ids-dir/one.txt",
        "chown-ids-dir/sub/two.txt",
    ] {
        assert_eq!(built.owner(rel), (1234, 4321), "{rel}");
    }
    assert_eq!(built.mode("chmod-file"), 0o740);
    for rel in [
        "chmod-dir",
        "chmod-dir/one.txt",
        "chmod-dir/sub",
        "chmod-dir/sub/two.txt",
    ] {
        assert_eq!(built.mode(rel), 0o751, "{rel}");
    }
    assert_eq!(
        (built.mode("deep/new/both"), built.owner("deep/new/both")),
        (0o600, (1234, 1234))
    );
    assert_eq!(
        built.owner("deep/new"),
        (1234, 1234),
        "created parents get the owner"
    );
    assert!(built
        .history()
        .contains(&"COPY --chown=appuser --chmod=600 b.txt /deep/new/both # buildkit".to_string()));
}

#[test]
fn copy_reads_other_stages_and_images_with_exclude_parents_and_link() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = copy_context(
        "FROM busybox AS builder\n\
         RUN mkdir -p /out/sub && echo built > /out/bin.txt && echo n > /out/sub/n.txt \
             && echo doc > /out/readme.md\n\
         FROM busybox\n\
         COPY --from=builder /out /from-name\n\
         COPY --from=0 /out/bin.txt /from-index.txt\n\
         COPY --from=busybox /bin/busybox /from-image\n\
         COPY --from=builder --exclude=*.md /out /from-stage-excluded\n\
         COPY --link a.txt /linked.txt\n\
         COPY --exclude=*.md --exclude=dir/sub --exclude=Dockerfile . /excluded/\n\
         COPY --parents dir/sub/two.txt other/o.txt /parents/\n\
         COPY --parents ./dir/./sub/two.txt /pivot/\n",
    );
    let built = build(&store, context.path(), &[]);
    assert_eq!(built.entries("from-name"), ["bin.txt", "readme.md", "sub"]);
    assert_eq!(built.read("from-index.txt"), "built\n");
    assert_eq!(built.bytes("from-image"), built.bytes("bin/busybox"));
    assert_eq!(built.entries("from-stage-excluded"), ["bin.txt", "sub"]);
    assert_eq!(built.read("linked.txt"), "a\n");
    assert_eq!(
        built.entries("excluded"),
        ["a.txt", "b.txt", "dir", "link.txt", "linkdir", "other", "tool.sh"]
    );
    assert_eq!(built.entries("excluded/dir"), ["inner-link", "one.txt"]);
    assert_eq!(built.read("parents/dir/sub/two.txt"), "two\n");
    assert_eq!(built.read("parents/other/o.txt"), "o\n");
    assert_eq!(built.entries("pivot"), ["sub"]);
    assert_eq!(built.read("pivot/sub/two.txt"), "two\n");
}

#[test]
fn dockerignore_exceptions_apply_and_the_dockerfile_specific_file_wins() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let copy_all = "FROM busybox\nCOPY . /ctx/\n";
    let context = context_from(&[
        ("Dockerfile", copy_all),
        (
            ".dockerignore",
            "*.log\n**/*.log\n!keep/important.log\nsecret/\n",
        ),
        ("top.log", "top\n"),
        ("ok.txt", "ok\n"),
        ("keep/a.log", "a\n"),
        ("keep/important.log", "important\n"),
        ("secret/s.txt", "s\n"),
        ("docker/app.Dockerfile", copy_all),
        ("docker/app.Dockerfile.dockerignore", "ok.txt\ndocker/\n"),
        (
            "docker/copy-secret.Dockerfile",
            "FROM busybox\nRUN true\nCOPY secret/s.txt /s\n",
        ),
    ]);
    let built = build(&store, context.path(), &[]);
    assert_eq!(
        built.entries("ctx"),
        [".dockerignore", "Dockerfile", "docker", "keep", "ok.txt"]
    );
    assert_eq!(built.entries("ctx/keep"), ["important.log"]);

    let app = context.path().join("docker/app.Dockerfile");
    let specific = build(&store, context.path(), &["-f", app.to_str().unwrap()]);
    assert_eq!(
        specific.entries("ctx"),
        [".dockerignore", "Dockerfile", "keep", "secret", "top.log"]
    );
    assert_eq!(specific.entries("ctx/keep"), ["a.log", "important.log"]);

    let copy_secret = context.path().join("docker/copy-secret.Dockerfile");
    let text = failed_build(
        &store,
        context.path(),
        &["-f", copy_secret.to_str().unwrap()],
    );
    assert!(text.contains("docker/copy-secret.Dockerfile:3"), "{text}");
    assert!(text.contains("secret/s.txt"), "{text}");
    assert!(text.contains(".dockerignore"), "{text}");
}

#[test]
fn add_unpacks_local_archives_and_copies_everything_else() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        (
            "Dockerfile",
            "FROM busybox\n\
             ADD plain.tar /plain/\n\
             ADD packed.tar.gz /gz\n\
             ADD --chown=7:8 plain.tar /owned/\n\
             ADD --chown=2:3 --chmod=0600 x.txt /added-x\n\
             ADD x.txt /plain-add\n\
             COPY plain.tar /copied.tar\n",
        ),
        ("x.txt", "x\n"),
        ("payload/sub/t.txt", "inside the archive\n"),
    ]);
    let root = context.path();
    set_mode(&root.join("payload/sub/t.txt"), 0o600);
    for (archive, flags) in [("plain.tar", "-cf"), ("packed.tar.gz", "-czf")] {
        let status = Command::new("tar")
            .args(["--owner=1001", "--group=1002", "--numeric-owner", flags])
            .arg(root.join(archive))
            .args(["-C", root.join("payload").to_str().unwrap(), "sub"])
            .status()
            .expect("run tar");
        assert!(status.success(), "tar {archive}");
    }
    let built = build(&store, root, &[]);
    assert_eq!(built.read("plain/sub/t.txt"), "inside the archive\n");
    assert_eq!(
        built.owner("plain/sub/t.txt"),
        (1001, 1002),
        "archive owners are kept"
    );
    assert_eq!(built.mode("plain/sub/t.txt"), 0o600);
    assert_eq!(built.read("gz/sub/t.txt"), "inside the archive\n");
    assert_eq!(built.owner("owned/sub/t.txt"), (7, 8));
    assert_eq!(
        (built.mode("added-x"), built.owner("added-x")),
        (0o600, (2, 3))
    );
    assert_eq!(built.read("plain-add"), "x\n");
    assert!(built.metadata("copied.tar").is_file(), "COPY never unpacks");
    assert_eq!(
        built.bytes("copied.tar"),
        fs::read(root.join("plain.tar")).unwrap()
    );
}

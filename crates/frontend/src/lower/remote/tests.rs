use super::*;

const NO_FLAGS: RemoteFlags<'static> = RemoteFlags {
    checksum: None,
    keep_git_dir: None,
};

fn git(text: &str, flags: &RemoteFlags<'_>) -> (GitSource, String) {
    match remote_source(text, flags) {
        Ok((RemoteSource::Git(git), path)) => (git, path),
        other => panic!("{text}: not a git source: {other:?}"),
    }
}

fn http(text: &str, flags: &RemoteFlags<'_>) -> (HttpSource, String) {
    match remote_source(text, flags) {
        Ok((RemoteSource::Http(http), path)) => (http, path),
        other => panic!("{text}: not a URL: {other:?}"),
    }
}

fn error(text: &str, flags: &RemoteFlags<'_>) -> String {
    match remote_source(text, flags) {
        Err(fault) => fault.message,
        Ok(other) => panic!("{text}: accepted as {other:?}"),
    }
}

#[test]
fn sources_are_classified_as_buildkit_does() {
    let kind = SourceKind::of;
    assert_eq!(kind("https://example.com/a.tgz"), SourceKind::Url);
    assert_eq!(kind("HTTP://example.com/a"), SourceKind::Url);
    assert_eq!(kind("https://example.com/a.tgz?x=.git"), SourceKind::Url);
    assert_eq!(
        kind("https://github.com/moby/buildkit.git"),
        SourceKind::Git
    );
    assert_eq!(kind("https://h/r.git#main:docs"), SourceKind::Git);
    assert_eq!(kind("https://h/r.git?ref=main"), SourceKind::Git);
    assert_eq!(kind("git://h/r"), SourceKind::Git);
    assert_eq!(kind("ssh://git@h/r"), SourceKind::Git);
    assert_eq!(kind("git@github.com:moby/buildkit.git"), SourceKind::Git);
    for local in [
        "src/app.git",
        "./http",
        "./git@h:r",
        "github.com/moby/buildkit",
        "ftp://h/file",
        "a:b",
        "C:/x",
    ] {
        assert_eq!(kind(local), SourceKind::Local, "{local}");
    }
}

#[test]
fn a_url_file_is_named_by_the_last_path_segment() {
    let name = |url| http(url, &NO_FLAGS).1;
    assert_eq!(name("https://h/dl/app-1.0.tar.gz"), "app-1.0.tar.gz");
    assert_eq!(name("https://h/dl/app.tgz?token=x#frag"), "app.tgz");
    assert_eq!(name("https://h/dl/my%20file.txt"), "my file.txt");
    assert_eq!(name("https://h/dl/dir/"), "dir");
    assert_eq!(name("https://h"), "__unnamed__");
    assert_eq!(name("https://h/"), "__unnamed__");
}

#[test]
fn a_url_checksum_must_be_a_sha256_digest() {
    let hex = "a".repeat(64);
    let good = format!("sha256:{hex}");
    let flags = RemoteFlags {
        checksum: Some(&good),
        keep_git_dir: None,
    };
    let (source, _) = http("https://h/a", &flags);
    assert_eq!(source.checksum.map(|d| d.to_string()), Some(good.clone()));
    let bad = RemoteFlags {
        checksum: Some("md5:abc"),
        keep_git_dir: None,
    };
    assert!(error("https://h/a", &bad).starts_with("invalid checksum \"md5:abc\""));
}

#[test]
fn a_git_fragment_names_ref_and_subdirectory() {
    let (source, path) = git("https://h/r.git#v1.2:docs/site", &NO_FLAGS);
    assert_eq!(source.remote, "https://h/r.git");
    assert_eq!(source.reference.as_deref(), Some("v1.2"));
    assert_eq!(path, "docs/site");
    assert!(!source.keep_git_dir && source.submodules);

    let (source, path) = git("git@github.com:moby/buildkit.git#main", &NO_FLAGS);
    assert_eq!(source.remote, "git@github.com:moby/buildkit.git");
    assert_eq!(source.reference.as_deref(), Some("main"));
    assert_eq!(path, ".");

    let (source, path) = git("git://h/r", &NO_FLAGS);
    assert_eq!((source.reference, path.as_str()), (None, "."));

    let (source, path) = git("https://h/r.git##ref=dev,subdir=/lib/", &NO_FLAGS);
    assert_eq!(source.reference.as_deref(), Some("dev"));
    assert_eq!(path, "lib");
}

#[test]
fn a_git_query_names_ref_subdir_and_options() {
    let (source, path) = git(
        "https://h/r.git?branch=main&subdir=pkg&keep-git-dir=true&submodules=false",
        &NO_FLAGS,
    );
    assert_eq!(source.remote, "https://h/r.git");
    assert_eq!(source.reference.as_deref(), Some("refs/heads/main"));
    assert_eq!(path, "pkg");
    assert!(source.keep_git_dir && !source.submodules);

    let (source, _) = git("https://h/r.git?tag=v1", &NO_FLAGS);
    assert_eq!(source.reference.as_deref(), Some("refs/tags/v1"));

    let commit = "0123456789abcdef0123456789abcdef01234567";
    let (source, _) = git(&format!("https://h/r.git?checksum={commit}"), &NO_FLAGS);
    assert_eq!(
        source.reference.as_deref(),
        Some(commit),
        "the commit is the ref"
    );
    assert_eq!(source.checksum.as_deref(), Some(commit));

    assert!(error("https://h/r.git?ref=a&tag=b", &NO_FLAGS).starts_with("ref conflicts"));
    assert!(error("https://h/r.git?color=red", &NO_FLAGS).starts_with("unexpected query"));
}

#[test]
fn git_flags_must_agree_with_the_url() {
    let keep = RemoteFlags {
        checksum: None,
        keep_git_dir: Some(true),
    };
    assert!(git("https://h/r.git", &keep).0.keep_git_dir);
    assert_eq!(
        error("https://h/r.git?keep-git-dir=false", &keep),
        "inconsistent keep-git-dir configuration"
    );
    let checksum = RemoteFlags {
        checksum: Some("ABCDEF1"),
        keep_git_dir: None,
    };
    let (source, _) = git("https://h/r.git#main", &checksum);
    assert_eq!(source.checksum.as_deref(), Some("abcdef1"));
    assert!(error("https://h/r.git?checksum=1234567", &checksum).starts_with("checksum mismatch"));
    let short = RemoteFlags {
        checksum: Some("abc"),
        keep_git_dir: None,
    };
    assert!(error("https://h/r.git", &short).starts_with("invalid git checksum"));
}

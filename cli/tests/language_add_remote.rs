//! End-to-end: ADD from HTTP URLs and git repositories, served on loopback by a small HTTP
//! server in the test and by `git daemon` — file names, modes, owners, no unpacking,
//! `--checksum`, `--keep-git-dir`, refs and subdirectories, submodules, errors naming the
//! Dockerfile line, and the cache: the same bytes or commit is a hit, new ones re-run.

mod common;
mod language_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{context_from, steps, TestStore};
use language_support::{build, failed_build, Built};
use tempfile::TempDir;

/// `Last-Modified` the server sends with every file, and its Unix time.
const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const LAST_MODIFIED_UNIX: i64 = 784_111_777;

/// One canned response.
#[derive(Clone)]
struct Reply {
    status: &'static str,
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Reply {
    fn file(body: &[u8]) -> Reply {
        Reply {
            status: "200 OK",
            headers: vec![format!("Last-Modified: {LAST_MODIFIED}")],
            body: body.to_vec(),
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1 answering GETs from a table of paths (404 otherwise)
/// and counting requests per path.
struct HttpServer {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl HttpServer {
    fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (table, counts) = (Arc::clone(&routes), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                answer(stream, &table, &counts);
            }
        });
        HttpServer { port, routes, hits }
    }

    fn serve(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn answer(
    mut stream: TcpStream,
    routes: &Mutex<HashMap<String, Reply>>,
    hits: &Mutex<HashMap<String, usize>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let reply = routes.lock().unwrap().get(&path).cloned().unwrap_or(Reply {
        status: "404 Not Found",
        headers: Vec::new(),
        body: b"not found\n".to_vec(),
    });
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for line in &reply.headers {
        head.push_str(&format!("{line}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

/// `git daemon` exporting the repositories under a temp dir; killed on drop.
struct GitDaemon {
    child: Child,
    port: u16,
    base: TempDir,
}

impl GitDaemon {
    fn start() -> GitDaemon {
        let base = tempfile::Builder::new()
            .prefix("rbuild-git-")
            .tempdir()
            .expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        // The daemon binary itself, not the `git daemon` wrapper: killing the wrapper would
        // leave its git-daemon child serving after the test.
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("git --exec-path");
        let exec_path = String::from_utf8_lossy(&exec_path.stdout)
            .trim()
            .to_string();
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg("--export-all")
            .arg(format!("--base-path={}", base.path().display()))
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg("--reuseaddr")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        GitDaemon { child, port, base }
    }

    /// A new repository `name` (a work tree, served as `git://…/name`).
    fn repository(&self, name: &str) -> PathBuf {
        let dir = self.base.path().join(name);
        git(&dir, &["init", "-q", "-b", "main", "."]);
        dir
    }

    fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs git in `dir` (created if missing) with a fixed identity and commit time.
fn git(dir: &Path, args: &[&str]) -> String {
    std::fs::create_dir_all(dir).expect("repository dir");
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .env("GIT_AUTHOR_DATE", "@1600000000 +0000")
        .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Writes `files` into the work tree and commits them.
fn commit(repo: &Path, files: &[(&str, &str)], message: &str) {
    for (path, content) in files {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("write");
    }
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

fn build_dockerfile(store: &TestStore, dockerfile: &str) -> Built {
    let context = context_from(&[("Dockerfile", dockerfile)]);
    build(store, context.path(), &[])
}

fn fail_dockerfile(store: &TestStore, dockerfile: &str) -> String {
    let context = context_from(&[("Dockerfile", dockerfile)]);
    failed_build(store, context.path(), &[])
}

/// Whether the step whose name contains `needle` came from the cache.
fn step_cached(built: &Built, needle: &str) -> bool {
    steps(&built.progress)
        .into_iter()
        .find(|(name, _)| name.contains(needle))
        .unwrap_or_else(|| panic!("no step {needle:?} in\n{}", built.progress))
        .1
}

/// A real gzipped tar holding `inside.txt`, to show downloads are not unpacked.
fn tar_gz() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("inside.txt"), "packed\n").expect("write");
    let archive = dir.path().join("app.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .arg("inside.txt")
        .status()
        .expect("run tar");
    assert!(status.success());
    std::fs::read(archive).expect("read archive")
}

#[test]
fn a_url_lands_packed_with_mode_600_under_its_name() {
    require_sandbox!();
    let server = HttpServer::start();
    let archive = tar_gz();
    server.serve("/dl/app.tar.gz", Reply::file(&archive));
    let mut disposition = Reply::file(b"report\n");
    disposition
        .headers
        .push("Content-Disposition: attachment; filename=\"report.csv\"".into());
    server.serve("/export", disposition);
    let store = TestStore::with_busybox();
    let built = build_dockerfile(
        &store,
        &format!(
            "FROM busybox\n\
             RUN adduser -D -u 1234 app && addgroup -g 4321 team\n\
             ADD {app} /opt/\n\
             ADD {app} /opt/renamed.tgz\n\
             ADD {export} /exports/\n\
             ADD --chown=app:team --chmod=0751 {app} /owned/\n",
            app = server.url("/dl/app.tar.gz"),
            export = server.url("/export"),
        ),
    );
    assert_eq!(built.bytes("opt/app.tar.gz"), archive, "not unpacked");
    assert!(!built.exists("opt/inside.txt"));
    assert_eq!(built.mode("opt/app.tar.gz"), 0o600);
    assert_eq!(built.owner("opt/app.tar.gz"), (0, 0));
    assert_eq!(
        built.metadata("opt/app.tar.gz").mtime(),
        LAST_MODIFIED_UNIX,
        "mtime from Last-Modified"
    );
    assert_eq!(built.bytes("opt/renamed.tgz"), archive);
    // As with `docker build`, the URL names the file; Content-Disposition does not.
    assert_eq!(built.read("exports/export"), "report\n");
    assert_eq!(built.owner("owned/app.tar.gz"), (1234, 4321));
    assert_eq!(built.mode("owned/app.tar.gz"), 0o751);
    assert!(
        built
            .history()
            .iter()
            .any(|h| h.starts_with("ADD http://127.0.0.1:")),
        "{:?}",
        built.history()
    );
}

#[test]
fn a_checksum_is_verified_and_a_mismatch_names_the_line() {
    require_sandbox!();
    let server = HttpServer::start();
    server.serve("/tool", Reply::file(b"#!/bin/sh\necho tool\n"));
    let url = server.url("/tool");
    let store = TestStore::with_busybox();
    let good = digest_of(b"#!/bin/sh\necho tool\n");
    let built = build_dockerfile(
        &store,
        &format!("FROM busybox\nADD --checksum={good} --chmod=755 {url} /usr/bin/tool\n"),
    );
    assert_eq!(built.mode("usr/bin/tool"), 0o755);
    assert_eq!(built.read("usr/bin/tool"), "#!/bin/sh\necho tool\n");

    let wrong = digest_of(b"something else");
    let report = fail_dockerfile(
        &store,
        &format!("FROM busybox\nRUN true\nADD --checksum={wrong} {url} /usr/bin/tool\n"),
    );
    assert!(report.contains("Dockerfile:3"), "{report}");
    assert!(
        report.contains(&format!("digest mismatch: expected {wrong}, got {good}")),
        "{report}"
    );
    assert!(report.contains(&url), "{report}");
}

fn digest_of(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bytes");
    std::fs::write(&file, bytes).expect("write");
    let out = Command::new("sha256sum")
        .arg(&file)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout);
    format!(
        "sha256:{}",
        text.split_whitespace().next().expect("a digest")
    )
}

#[test]
fn the_same_bytes_are_cached_and_new_bytes_rerun_the_step() {
    require_sandbox!();
    let server = HttpServer::start();
    server.serve("/data.txt", Reply::file(b"version 1\n"));
    let store = TestStore::with_busybox();
    let dockerfile = format!(
        "FROM busybox\nADD {} /data/\nRUN cat /data/data.txt > /seen\n",
        server.url("/data.txt")
    );
    let first = build_dockerfile(&store, &dockerfile);
    assert!(!step_cached(&first, "ADD"));
    assert_eq!(first.read("seen"), "version 1\n");

    let again = build_dockerfile(&store, &dockerfile);
    assert_eq!(server.hits("/data.txt"), 2, "every build fetches the URL");
    assert!(step_cached(&again, "ADD"), "{}", again.progress);
    assert!(step_cached(&again, "RUN"));

    server.serve("/data.txt", Reply::file(b"version 2\n"));
    let changed = build_dockerfile(&store, &dockerfile);
    assert!(!step_cached(&changed, "ADD"), "{}", changed.progress);
    assert!(!step_cached(&changed, "RUN"));
    assert_eq!(changed.read("seen"), "version 2\n");
}

#[test]
fn a_missing_url_fails_naming_line_url_and_status() {
    require_sandbox!();
    let server = HttpServer::start();
    let url = server.url("/gone.tgz");
    let store = TestStore::with_busybox();
    let report = fail_dockerfile(
        &store,
        &format!("FROM busybox\nRUN true\nADD {url} /opt/\n"),
    );
    assert!(report.contains("Dockerfile:3"), "{report}");
    assert!(
        report.contains(&format!("{url}: the server answered 404 Not Found")),
        "{report}"
    );
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = format!("http://{}/file", closed.local_addr().expect("address"));
    drop(closed);
    let report = fail_dockerfile(&store, &format!("FROM busybox\nADD {refused} /opt/\n"));
    assert!(report.contains("Dockerfile:2"), "{report}");
    assert!(report.contains(&refused), "{report}");
    assert!(report.contains("refused"), "{report}");
}

#[test]
fn git_refs_subdirectories_git_dirs_and_submodules() {
    require_sandbox!();
    let daemon = GitDaemon::start();
    let lib = daemon.repository("lib.git");
    commit(&lib, &[("lib.txt", "library\n")], "lib");
    let app = daemon.repository("app.git");
    commit(
        &app,
        &[("README", "v1\n"), ("docs/guide.txt", "guide\n")],
        "first",
    );
    git(&app, &["tag", "-a", "v1", "-m", "release 1"]);
    git(
        &app,
        &[
            "submodule",
            "add",
            "-q",
            &daemon.url("lib.git"),
            "vendor/lib",
        ],
    );
    commit(&app, &[("README", "v2\n")], "second");
    let url = daemon.url("app.git");
    let store = TestStore::with_busybox();
    let built = build_dockerfile(
        &store,
        &format!(
            "FROM busybox\n\
             ADD {url}#v1:docs /docs\n\
             ADD {url} /plain\n\
             ADD --keep-git-dir=true {url}#main /kept\n\
             ADD --chown=1234:4321 --chmod=0750 {url}?ref=v1&subdir=docs /owned/\n"
        ),
    );
    assert_eq!(built.entries("docs"), ["guide.txt"]);
    assert_eq!(built.read("docs/guide.txt"), "guide\n");
    assert_eq!(built.read("plain/README"), "v2\n");
    assert!(
        !built.exists("plain/.git"),
        "no .git without --keep-git-dir"
    );
    assert_eq!(built.read("plain/vendor/lib/lib.txt"), "library\n");
    assert!(!built.exists("plain/vendor/lib/.git"));
    assert!(
        built.metadata("kept/.git").is_dir(),
        "--keep-git-dir keeps it"
    );
    assert_eq!(built.read("kept/README"), "v2\n");
    assert_eq!(built.metadata("plain/README").mtime(), 1_600_000_000);
    assert_eq!(built.owner("owned/guide.txt"), (1234, 4321));
    assert_eq!(built.mode("owned/guide.txt"), 0o750);

    let report = fail_dockerfile(&store, &format!("FROM busybox\nADD {url}#nope /x\n"));
    assert!(report.contains("Dockerfile:2"), "{report}");
    assert!(report.contains("ref \"nope\" not found"), "{report}");
}

#[test]
fn the_same_commit_is_cached_and_a_new_commit_reruns_the_step() {
    require_sandbox!();
    let daemon = GitDaemon::start();
    let app = daemon.repository("app.git");
    commit(&app, &[("VERSION", "1\n")], "first");
    let store = TestStore::with_busybox();
    let dockerfile = format!(
        "FROM busybox\nADD {}#main /src\nRUN cat /src/VERSION > /seen\n",
        daemon.url("app.git")
    );
    let first = build_dockerfile(&store, &dockerfile);
    assert_eq!(first.read("seen"), "1\n");
    let again = build_dockerfile(&store, &dockerfile);
    assert!(step_cached(&again, "ADD"), "{}", again.progress);

    commit(&app, &[("VERSION", "2\n")], "second");
    let head = git(&app, &["rev-parse", "HEAD"]);
    let changed = build_dockerfile(&store, &dockerfile);
    assert!(!step_cached(&changed, "ADD"), "{}", changed.progress);
    assert_eq!(changed.read("seen"), "2\n");

    let pinned = format!(
        "FROM busybox\nADD --checksum={head} {}#main /src\n",
        daemon.url("app.git")
    );
    assert_eq!(build_dockerfile(&store, &pinned).read("src/VERSION"), "2\n");
    let stale = format!(
        "FROM busybox\nADD --checksum={} {}#main /src\n",
        "0".repeat(40),
        daemon.url("app.git")
    );
    let report = fail_dockerfile(&store, &stale);
    assert!(report.contains("Dockerfile:2"), "{report}");
    assert!(report.contains("checksum mismatch"), "{report}");
}

#[test]
fn one_add_mixes_a_url_local_files_and_a_heredoc() {
    require_sandbox!();
    let server = HttpServer::start();
    let archive = tar_gz();
    server.serve("/dl/app.tar.gz", Reply::file(&archive));
    let store = TestStore::with_busybox();
    let dockerfile = format!(
        "FROM busybox\n\
         ADD {url} local.tar.gz plain.txt <<note.txt /mixed/\n\
         noted\n\
         note.txt\n",
        url = server.url("/dl/app.tar.gz"),
    );
    let context = context_from(&[("Dockerfile", &dockerfile), ("plain.txt", "plain\n")]);
    std::fs::write(context.path().join("local.tar.gz"), &archive).unwrap();
    let built = build(&store, context.path(), &[]);
    assert_eq!(
        built.entries("mixed"),
        ["app.tar.gz", "inside.txt", "note.txt", "plain.txt"]
    );
    assert_eq!(
        built.bytes("mixed/app.tar.gz"),
        archive,
        "a download stays packed"
    );
    assert_eq!(built.mode("mixed/app.tar.gz"), 0o600);
    assert_eq!(
        built.read("mixed/inside.txt"),
        "packed\n",
        "the local archive is unpacked"
    );
    assert_eq!(built.read("mixed/plain.txt"), "plain\n");
    assert_eq!(built.read("mixed/note.txt"), "noted\n");
    assert_eq!(server.hits("/dl/app.tar.gz"), 1);
    assert_eq!(
        built.config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        2,
        "one layer for the whole ADD"
    );
    let again = build(&store, context.path(), &[]);
    assert!(step_cached(&again, "ADD"), "{}", again.progress);
}

#[test]
fn a_git_url_is_a_build_context_at_its_ref_and_subdirectory() {
    require_sandbox!();
    let daemon = GitDaemon::start();
    let repo = daemon.repository("ctx.git");
    commit(
        &repo,
        &[
            ("app/Dockerfile", "FROM busybox\nCOPY msg.txt /msg.txt\n"),
            ("app/msg.txt", "one\n"),
        ],
        "first",
    );
    git(&repo, &["tag", "v1"]);
    commit(&repo, &[("app/msg.txt", "two\n")], "second");
    let store = TestStore::with_busybox();
    let out_dir = tempfile::tempdir().expect("temp dir");
    for (fragment, expected) in [("#v1:app", "one\n"), ("#main:app", "two\n")] {
        let dest = out_dir.path().join(fragment.replace([':', '#'], "_"));
        let url = format!("{}{fragment}", daemon.url("ctx.git"));
        let out = store.build(
            Path::new(&url),
            &["-o", &format!("type=local,dest={}", dest.display())],
        );
        common::assert_success(&out, &format!("build {url}"));
        assert_eq!(
            std::fs::read_to_string(dest.join("msg.txt")).expect("msg.txt"),
            expected
        );
    }
    let url = format!("{}#nope:app", daemon.url("ctx.git"));
    let out = store.build(Path::new(&url), &[]);
    assert!(!out.status.success());
    let text = common::stderr(&out);
    assert!(
        text.contains("cannot check out the build context"),
        "{text}"
    );
    assert!(text.contains("ref \"nope\" not found"), "{text}");
}

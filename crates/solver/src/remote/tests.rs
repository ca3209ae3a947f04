//! Remote sources against real servers on loopback: a small HTTP server in a thread, and
//! git repositories made with the `git` CLI and fetched over `file://`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::fixtures::remote_add;
use crate::graph::{CopySource, GitSource, HttpSource, Op, RemoteSource};

/// A response: status line (`200 OK`), extra header lines, body.
type Reply = (&'static str, Vec<String>, Vec<u8>);

/// Serves `reply` to every request on a loopback port; counts the requests.
struct TestServer {
    base: String,
    requests: Arc<AtomicUsize>,
}

impl TestServer {
    fn start(reply: Reply) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, headers, body) = &reply;
                let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
                for header in headers {
                    head.push_str(&format!("{header}\r\n"));
                }
                head.push_str("Connection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        TestServer { base, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn url_op(url: String, checksum: Option<Digest>) -> Op {
    remote_add(RemoteSource::Http(HttpSource { url, checksum }), "file.bin")
}

fn tmp_entries(dir: &tempfile::TempDir) -> usize {
    std::fs::read_dir(dir.path().join("tmp")).unwrap().count()
}

#[test]
fn a_url_without_checksum_is_downloaded_to_learn_its_digest() {
    let server = TestServer::start((
        "200 OK",
        vec!["Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT".into()],
        b"hello".to_vec(),
    ));
    let (dir, store) = store();
    let op = url_op(format!("{}/dl/file.bin", server.base), None);
    let resolved = resolve(&store, &op).unwrap();
    assert_eq!(server.requests(), 1);
    assert_eq!(
        resolved[0].version,
        RemoteVersion::File {
            digest: Digest::of(b"hello"),
            modified: Some(784_111_777),
        }
    );
    let files = fetch(&store, resolved, &[]).unwrap();
    assert_eq!(server.requests(), 1, "fetching reuses the download");
    let entry = &files.matches[0].entries[0];
    assert_eq!((entry.rel_path.as_str(), entry.mode), ("file.bin", 0o600));
    let metadata = std::fs::metadata(&entry.host_path).unwrap();
    assert_eq!(metadata.mtime(), 784_111_777);
    drop(files);
    assert_eq!(tmp_entries(&dir), 0, "the download goes with the step");
}

#[test]
fn a_checksum_stands_in_for_the_download_until_the_step_runs() {
    let server = TestServer::start(("200 OK", Vec::new(), b"hello".to_vec()));
    let (dir, store) = store();
    let url = format!("{}/file.bin", server.base);
    let right = url_op(url.clone(), Some(Digest::of(b"hello")));
    let resolved = resolve(&store, &right).unwrap();
    assert_eq!(server.requests(), 0, "a checksum needs no download");
    assert!(fetch(&store, resolved, &[]).is_ok());

    let wrong = url_op(url.clone(), Some(Digest::of(b"other")));
    let resolved = resolve(&store, &wrong).unwrap();
    let message = fetch(&store, resolved, &[]).err().unwrap().to_string();
    assert!(
        message.starts_with(&format!(
            "{url}: digest mismatch: expected {}",
            Digest::of(b"other")
        )),
        "{message}"
    );
    assert!(message.ends_with(&format!("got {}", Digest::of(b"hello"))));
    assert_eq!(tmp_entries(&dir), 0, "nothing half-written is left");
}

#[test]
fn http_failures_name_the_url_and_the_cause() {
    let server = TestServer::start(("404 Not Found", Vec::new(), b"no".to_vec()));
    let (_dir, store) = store();
    let url = format!("{}/missing.tgz", server.base);
    let message = resolve(&store, &url_op(url.clone(), None))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(message, format!("{url}: the server answered 404 Not Found"));

    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/file", closed.local_addr().unwrap());
    drop(closed);
    let message = resolve(&store, &url_op(url.clone(), None))
        .err()
        .unwrap()
        .to_string();
    assert!(message.starts_with(&url), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

/// Runs git in `dir` with a fixed identity and commit time.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .env("GIT_AUTHOR_DATE", "@1600000000 +0000")
        .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// A repository with `README` and `docs/guide.txt` on `main`, annotated tag `v1` on the
/// first commit and a second commit; returns (dir, first commit, second commit).
fn repository() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    std::fs::create_dir(repo.join("docs")).unwrap();
    std::fs::write(repo.join("README"), "one\n").unwrap();
    std::fs::write(repo.join("docs/guide.txt"), "guide\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "first"]);
    git(repo, &["tag", "-a", "v1", "-m", "release"]);
    let first = git(repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("README"), "two\n").unwrap();
    git(repo, &["commit", "-q", "-am", "second"]);
    let second = git(repo, &["rev-parse", "HEAD"]);
    (dir, first, second)
}

fn git_op(repo: &Path, reference: Option<&str>, keep_git_dir: bool, path: &str) -> Op {
    remote_add(
        RemoteSource::Git(GitSource {
            remote: format!("file://{}", repo.display()),
            reference: reference.map(str::to_string),
            checksum: None,
            keep_git_dir,
            submodules: true,
        }),
        path,
    )
}

fn commit_of(store: &Store, op: &Op) -> Result<String, RemoteError> {
    match resolve(store, op)?.remove(0).version {
        RemoteVersion::Commit { commit } => Ok(commit),
        other => panic!("not a commit: {other:?}"),
    }
}

#[test]
fn git_references_resolve_to_commits_without_fetching() {
    let (repo, first, second) = repository();
    let (dir, store) = store();
    let commit = |reference| commit_of(&store, &git_op(repo.path(), reference, false, "."));
    assert_eq!(commit(None).unwrap(), second);
    assert_eq!(commit(Some("main")).unwrap(), second);
    assert_eq!(
        commit(Some("v1")).unwrap(),
        first,
        "an annotated tag gives its commit"
    );
    assert_eq!(commit(Some(&first)).unwrap(), first);
    let message = commit(Some("nope")).err().unwrap().to_string();
    assert!(message.ends_with("ref \"nope\" not found"), "{message}");
    assert_eq!(tmp_entries(&dir), 0);

    let Op::Copy(mut pinned) = git_op(repo.path(), Some("main"), false, ".") else {
        unreachable!()
    };
    if let CopySource::Remote(sources) = &mut pinned.source {
        if let RemoteSource::Git(source) = &mut sources[0] {
            source.checksum = Some(first[..10].to_string());
        }
    }
    let message = commit_of(&store, &Op::Copy(pinned))
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("checksum mismatch"), "{message}");
}

#[test]
fn a_checkout_takes_the_subdirectory_drops_git_and_dates_files_by_the_commit() {
    let (repo, _, second) = repository();
    let (dir, store) = store();
    let op = git_op(repo.path(), Some("v1"), false, "docs");
    let files = fetch(&store, resolve(&store, &op).unwrap(), &[]).unwrap();
    let names: Vec<&str> = files.matches[0]
        .entries
        .iter()
        .map(|e| e.rel_path.as_str())
        .collect();
    assert_eq!(names, ["docs", "docs/guide.txt"]);
    let guide = &files.matches[0].entries[1].host_path;
    let checkout = guide.parent().unwrap().parent().unwrap();
    assert!(!checkout.join(".git").exists(), ".git is dropped");
    assert_eq!(std::fs::metadata(guide).unwrap().mtime(), 1_600_000_000);
    drop(files);
    assert_eq!(tmp_entries(&dir), 0);

    let kept = git_op(repo.path(), Some("main"), true, ".");
    let files = fetch(&store, resolve(&store, &kept).unwrap(), &[]).unwrap();
    let root = &files.matches[0].entries[0].host_path;
    assert_eq!(
        std::fs::read_to_string(root.join("README")).unwrap(),
        "two\n"
    );
    assert_eq!(git(root, &["rev-parse", "HEAD"]), second, ".git is kept");

    let missing = git_op(repo.path(), Some("main"), false, "nope");
    let message = fetch(&store, resolve(&store, &missing).unwrap(), &[])
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.ends_with("\"nope\" not found in what was fetched"),
        "{message}"
    );
}

#[test]
fn redirects_that_cannot_be_followed_fail_and_keep_no_body() {
    let cases: [(&str, Vec<String>, &str); 3] = [
        ("302 Found", Vec::new(), "a redirect without a Location"),
        (
            "301 Moved Permanently",
            vec!["Location: ftp://127.0.0.1/file".into()],
            "URL scheme is not allowed",
        ),
        (
            "307 Temporary Redirect",
            vec!["Location: file:///etc/passwd".into()],
            "cannot be followed (Location: \"file:///etc/passwd\")",
        ),
    ];
    for (status, headers, expected) in cases {
        let server = TestServer::start((status, headers, b"redirect body".to_vec()));
        let (dir, store) = store();
        let url = format!("{}/file.bin", server.base);
        let message = resolve(&store, &url_op(url.clone(), None))
            .err()
            .unwrap_or_else(|| panic!("{status}: the redirect body was taken as the file"))
            .to_string();
        // reqwest refuses other schemes itself; a redirect it hands back is refused here.
        assert!(
            message.starts_with(&format!("{url}: ")) && message.ends_with(expected),
            "{status}: {message}"
        );
        assert_eq!(tmp_entries(&dir), 0, "{status}: nothing is kept");
    }
}

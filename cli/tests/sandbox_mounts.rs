//! End-to-end RUN mounts: secrets from a file and from the environment reach the step but
//! no layer, config, history or log; a missing required secret names its line; cache
//! mounts persist across builds outside the layers, `sharing=locked` serializes two
//! concurrent builds, `cache du` counts them and `cache prune` removes them; a bind mount
//! of a context directory is part of the step's key by content, not by mtime; an SSH agent
//! is forwarded with SSH_AUTH_SOCK set.

mod common;

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, context_from, stderr, steps, TestStore};

const FILE_SECRET: &str = "file-secret-6f1d2a";
const ENV_SECRET: &str = "env-secret-93be7c";

/// Every blob of an OCI tar, gzip layers decompressed.
fn oci_blobs(oci_tar: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap().keep();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(oci_tar)
        .arg("-C")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let mut blobs = Vec::new();
    for entry in fs::read_dir(dir.join("blobs/sha256")).unwrap().flatten() {
        let bytes = fs::read(entry.path()).unwrap();
        let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
            let out = Command::new("gzip")
                .arg("-dc")
                .arg(entry.path())
                .output()
                .unwrap();
            out.stdout
        } else {
            bytes
        };
        blobs.push((entry.path(), bytes));
    }
    blobs
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_reach_the_step_but_no_layer_config_history_or_log() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let secret_file = tempfile::NamedTempFile::new().unwrap();
    fs::write(secret_file.path(), FILE_SECRET).unwrap();
    let context = context_from(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\n\
             RUN --mount=type=secret,id=token --mount=type=secret,id=api,env=API_KEY \
             test \"$(tr a-z A-Z < /run/secrets/token)\" = {file} \
             && test \"$(echo $API_KEY | tr a-z A-Z)\" = {env} \
             && echo secrets-ok && touch /done\n",
            // The Dockerfile holds only a transformed value, so that a match in the log
            // or a blob can only come from the secret itself.
            file = FILE_SECRET.to_uppercase(),
            env = ENV_SECRET.to_uppercase(),
        ),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("image.tar");
    let out = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(store.root())
        .args(["build", "--progress", "plain"])
        .arg("--secret")
        .arg(format!("id=token,src={}", secret_file.path().display()))
        .args(["--secret", "id=api,env=RBUILD_TEST_API_KEY"])
        .arg("-o")
        .arg(format!("type=oci,dest={}", oci.display()))
        .arg(context.path())
        .env("RBUILD_TEST_API_KEY", ENV_SECRET)
        .output()
        .unwrap();
    assert_success(&out, "secret build");
    let log = stderr(&out);
    assert!(log.contains("secrets-ok"), "{log}");
    for secret in [FILE_SECRET, ENV_SECRET] {
        assert!(
            !contains(&out.stdout, secret) && !log.contains(secret),
            "{secret} in log"
        );
        for (path, blob) in oci_blobs(&oci) {
            assert!(
                !contains(&blob, secret),
                "{secret} in blob {}",
                path.display()
            );
        }
    }
    // Layer tars (ustar magic at 257); the config's history names the mount, rightly.
    let layers: Vec<u8> = oci_blobs(&oci)
        .into_iter()
        .filter(|(_, b)| b.get(257..262) == Some(b"ustar"))
        .flat_map(|(_, b)| b)
        .collect();
    assert!(
        contains(&layers, "done"),
        "the step's own file is in a layer"
    );
    assert!(
        !contains(&layers, "run/secrets"),
        "a secret mountpoint reached a layer"
    );
}

#[test]
fn a_missing_required_secret_names_the_line() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN true\nRUN --mount=type=secret,id=npmrc,required=true cat /run/secrets/npmrc\n",
    )]);
    let out = store.build(context.path(), &[]);
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(log.contains("npmrc") && log.contains("--secret"), "{log}");
    assert!(log.contains(":3") || log.contains("line 3"), "{log}");
    // An optional secret that is missing is simply absent.
    let optional = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=npmrc test ! -e /run/secrets/npmrc\n",
    )]);
    assert_success(&store.build(optional.path(), &[]), "optional secret");
}

/// A context whose RUN appends to, and lists, a cache mount.
fn cache_context(marker: &str) -> tempfile::TempDir {
    context_from(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\n\
             RUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs \
             echo {marker} >> /var/cache/pkgs/log && cat /var/cache/pkgs/log > /seen\n"
        ),
    )])
}

fn local_output(store: &TestStore, context: &Path) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    assert_success(&store.build(context, &["-o", &dest]), "cache mount build");
    out
}

#[test]
fn cache_mounts_persist_outside_layers_and_are_pruned() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    local_output(&store, cache_context("first").path());
    let second = local_output(&store, cache_context("second").path());
    assert_eq!(
        fs::read_to_string(second.path().join("seen")).unwrap(),
        "first\nsecond\n"
    );
    assert!(
        !second.path().join("var/cache/pkgs/log").exists(),
        "the cache's contents reached the image"
    );
    let du = store.rbuild(&["cache", "du", "--bytes"]);
    assert_success(&du, "cache du");
    let used: u64 = common::stdout(&du)
        .lines()
        .find_map(|l| l.strip_prefix("cache-mounts"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(used > 0, "cache du counts cache mounts");
    assert_success(&store.rbuild(&["cache", "prune", "--all"]), "cache prune");
    let third = local_output(&store, cache_context("third").path());
    assert_eq!(
        fs::read_to_string(third.path().join("seen")).unwrap(),
        "third\n"
    );
}

#[test]
fn locked_cache_mounts_serialize_concurrent_builds() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let step = "RUN --mount=type=cache,id=serial,target=/c,sharing=locked \
                echo start $(cut -d' ' -f1 /proc/uptime) >> /c/log && sleep 1 && \
                echo end $(cut -d' ' -f1 /proc/uptime) >> /c/log";
    let contexts: Vec<_> = (0..2)
        .map(|i| {
            context_from(&[(
                "Dockerfile",
                &format!("FROM busybox\nRUN echo {i}\n{step}\n"),
            )])
        })
        .collect();
    let builds: Vec<_> = contexts
        .iter()
        .map(|c| {
            Command::new(env!("CARGO_BIN_EXE_rbuild"))
                .arg("--root")
                .arg(store.root())
                .args(["build", "--progress", "plain"])
                .arg(c.path())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut build in builds {
        assert!(build.wait().unwrap().success());
    }
    let reader = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=cache,id=serial,target=/c,sharing=locked cp /c/log /log\n",
    )]);
    let out = local_output(&store, reader.path());
    let log = fs::read_to_string(out.path().join("log")).unwrap();
    let times: Vec<(String, f64)> = log
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(kind, t)| (kind.to_string(), t.parse().unwrap()))
        .collect();
    assert_eq!(times.len(), 4, "{log}");
    // start, end, start, end: the second step began after the first ended.
    let kinds: Vec<&str> = times.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["start", "end", "start", "end"], "{log}");
    assert!(times[2].1 >= times[1].1, "intervals overlap: {log}");
}

#[test]
fn bind_mounted_context_files_key_the_step_by_content() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=bind,source=src,target=/src cat /src/main.c > /copied\n",
        ),
        ("src/main.c", "int main() { return 0; }\n"),
    ]);
    let run_cached = |store: &TestStore| {
        let out = store.build(context.path(), &[]);
        assert_success(&out, "bind build");
        steps(&stderr(&out))
            .into_iter()
            .find(|(name, _)| name.contains("RUN"))
            .map(|(_, cached)| cached)
            .unwrap()
    };
    assert!(!run_cached(&store), "first build runs");
    let file = context.path().join("src/main.c");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert!(run_cached(&store), "an mtime change keeps the key");
    fs::write(&file, "int main() { return 1; }\n").unwrap();
    assert!(!run_cached(&store), "a content change changes the key");
}

#[test]
fn ssh_agent_is_forwarded_with_ssh_auth_sock() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("agent.sock");
    let _listener = UnixListener::bind(&agent).unwrap();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && \
         echo \"$SSH_AUTH_SOCK\" > /sock\n",
    )]);
    let out = tempfile::tempdir().unwrap();
    let dest = format!("type=local,dest={}", out.path().display());
    let ssh = format!("default={}", agent.display());
    assert_success(
        &store.build(context.path(), &["--ssh", &ssh, "-o", &dest]),
        "ssh build",
    );
    assert_eq!(
        fs::read_to_string(out.path().join("sock")).unwrap(),
        "/run/buildkit/ssh_agent.0\n"
    );
    assert!(
        !out.path().join("run/buildkit").exists(),
        "no mountpoint stub in the image"
    );
    let missing = store.build(context.path(), &["--no-cache"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("--ssh"), "{}", stderr(&missing));
}

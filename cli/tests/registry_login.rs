//! Basic auth against a real registry (docker-registry with htpasswd): a wrong password
//! fails clearly and writes nothing; `login` writes Docker's config.json (the secret not
//! printed), push then works with it, `logout` removes it and push is refused again. A
//! `credHelpers` entry naming a `docker-credential-*` program on PATH supplies the secret
//! the same way, and it never shows in rbuild's output.

mod common;
mod registry_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{assert_success, stderr, stdout, TestStore};
use registry_support::{rbuild_with, LocalRegistry};

const USER: &str = "ci";
const SECRET: &str = "s3cret-pass";

/// A registry that wants `USER` / `SECRET` (htpasswd); None when a tool is missing.
fn htpasswd_registry(secrets: &Path) -> Option<LocalRegistry> {
    if !Path::new("/usr/bin/htpasswd").exists() {
        println!("RBUILD-TEST-SKIPPED: htpasswd missing (Debian apache2-utils)");
        return None;
    }
    let htpasswd = secrets.join("htpasswd");
    let line = common::checked("htpasswd", &["-Bbn", USER, SECRET]);
    std::fs::write(&htpasswd, line).unwrap();
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: rbuild-test\n    path: {}\n",
        htpasswd.display()
    );
    LocalRegistry::start_with(&auth)
}

#[test]
fn login_push_logout_with_htpasswd() {
    let secrets = tempfile::tempdir().unwrap();
    let Some(registry) = htpasswd_registry(secrets.path()) else {
        return;
    };
    let host = registry.host();
    let config = tempfile::tempdir().unwrap();
    let store = TestStore::with_busybox();
    let run =
        |args: &[&str], input: Option<&str>| rbuild_with(store.root(), config.path(), args, input);
    let name = format!("{host}/private/busybox:1");
    assert_success(&run(&["tag", "busybox", &name], None), "tag");

    let refused = run(&["push", &name], None);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("authentication failed"),
        "{}",
        stderr(&refused)
    );

    let wrong = run(
        &["login", "-u", USER, "--password-stdin", &host],
        Some("nope\n"),
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains(&host) && stderr(&wrong).contains("authentication failed"),
        "{}",
        stderr(&wrong)
    );
    assert!(!config.path().join("config.json").exists());

    let login = run(
        &["login", "-u", USER, "--password-stdin", &host],
        Some(&format!("{SECRET}\n")),
    );
    assert_success(&login, "login");
    assert!(!stdout(&login).contains(SECRET) && !stderr(&login).contains(SECRET));
    let written = std::fs::read_to_string(config.path().join("config.json")).unwrap();
    assert!(written.contains(&host), "{written}");

    assert_success(&run(&["push", &name], None), "push after login");
    let empty = TestStore::empty();
    let pulled = rbuild_with(empty.root(), config.path(), &["pull", &name], None);
    assert_success(&pulled, "pull after login");

    assert_success(&run(&["logout", &host], None), "logout");
    let after = run(&["push", &name], None);
    assert!(!after.status.success());
}

/// Writes `docker-credential-rbtest` into `bin`: `get` answers `USER` / `SECRET` for
/// `server` (and "not found" otherwise), logging each call to `bin/calls`.
fn install_helper(bin: &Path, server: &str) {
    let script = format!(
        r#"#!/bin/sh
read -r asked
echo "$1 $asked" >> "{calls}"
[ "$1" = get ] || exit 1
if [ "$asked" = "{server}" ]; then
    printf '{{"ServerURL":"%s","Username":"{USER}","Secret":"{SECRET}"}}\n' "$asked"
else
    echo "credentials not found in native keychain"; exit 1
fi
"#,
        calls = bin.join("calls").display()
    );
    let path = bin.join("docker-credential-rbtest");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_cred_helper_supplies_the_secret_and_it_is_never_printed() {
    let secrets = tempfile::tempdir().unwrap();
    let Some(registry) = htpasswd_registry(secrets.path()) else {
        return;
    };
    let host = registry.host();
    let bin = tempfile::tempdir().unwrap();
    install_helper(bin.path(), &host);
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"credHelpers": {{"{host}": "rbtest"}}}}"#),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |store: &TestStore, args: &[&str], path: &str| -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .arg("--root")
            .arg(store.root())
            .args(args)
            .env("DOCKER_CONFIG", config.path())
            .env("HOME", config.path())
            .env("PATH", path)
            .output()
            .expect("run rbuild");
        for text in [stdout(&output), stderr(&output)] {
            assert!(!text.contains(SECRET), "the secret was printed: {text}");
        }
        output
    };
    let store = TestStore::with_busybox();
    let name = format!("{host}/helped/busybox:1");
    assert_success(&store.rbuild(&["tag", "busybox", &name]), "tag");

    // Without the helper on PATH the registry's secret cannot be had.
    let system_path = std::env::var("PATH").unwrap_or_default();
    let without = run(&store, &["push", &name], &system_path);
    assert!(!without.status.success());
    assert!(stderr(&without).contains("rbtest"), "{}", stderr(&without));

    assert_success(
        &run(&store, &["push", &name], &path),
        "push through the helper",
    );
    let empty = TestStore::empty();
    assert_success(
        &run(&empty, &["pull", &name], &path),
        "pull through the helper",
    );
    let calls = std::fs::read_to_string(bin.path().join("calls")).unwrap();
    assert!(calls.lines().all(|l| l == format!("get {host}")), "{calls}");
    assert!(calls.lines().count() >= 2, "{calls}");
    let config_json = std::fs::read_to_string(config.path().join("config.json")).unwrap();
    assert!(!config_json.contains(SECRET), "{config_json}");
}

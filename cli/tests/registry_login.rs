//! Basic auth against a real registry (docker-registry with htpasswd): a wrong password
//! fails clearly and writes nothing; `login` writes Docker's config.json (the secret not
//! printed), push then works with it, `logout` removes it and push is refused again.

mod common;
mod registry_support;

use common::{assert_success, stderr, stdout, TestStore};
use registry_support::{rbuild_with, LocalRegistry};

#[test]
fn login_push_logout_with_htpasswd() {
    if !std::path::Path::new("/usr/bin/htpasswd").exists() {
        println!("RBUILD-TEST-SKIPPED: htpasswd missing (Debian apache2-utils)");
        return;
    }
    let secrets = tempfile::tempdir().unwrap();
    let htpasswd = secrets.path().join("htpasswd");
    let line = common::checked("htpasswd", &["-Bbn", "ci", "s3cret-pass"]);
    std::fs::write(&htpasswd, line).unwrap();
    let auth = format!(
        "auth:\n  htpasswd:\n    realm: rbuild-test\n    path: {}\n",
        htpasswd.display()
    );
    let Some(registry) = LocalRegistry::start_with(&auth) else {
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
        &["login", "-u", "ci", "--password-stdin", &host],
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
        &["login", "-u", "ci", "--password-stdin", &host],
        Some("s3cret-pass\n"),
    );
    assert_success(&login, "login");
    assert!(!stdout(&login).contains("s3cret") && !stderr(&login).contains("s3cret"));
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

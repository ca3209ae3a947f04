//! TLS with a generated CA: docker-registry serves HTTPS on loopback with a certificate
//! signed by a CA made here with openssl. Without the CA rbuild refuses the registry
//! (naming it and the TLS cause); with `SSL_CERT_FILE` pointing at the CA, push and pull
//! work.

mod common;
mod registry_support;

use std::path::Path;
use std::process::Command;

use common::{assert_success, stderr, TestStore};
use registry_support::LocalRegistry;

fn openssl(args: &[&str], dir: &Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        status.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

#[test]
fn push_and_pull_over_tls_with_a_generated_ca() {
    if !Path::new("/usr/bin/openssl").exists() {
        println!("RBUILD-TEST-SKIPPED: openssl missing (Debian openssl)");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rbuild test CA",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
        dir,
    );
    let tls = format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        dir.join("server.crt").display(),
        dir.join("server.key").display()
    );
    let Some(registry) = LocalRegistry::start_with(&tls) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let name = format!("{}/tls/busybox:1", registry.host());
    let store = TestStore::with_busybox();
    assert_success(&store.rbuild(&["tag", "busybox", &name]), "tag");
    let run = |store: &TestStore, args: &[&str], ca: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rbuild"));
        command
            .arg("--root")
            .arg(store.root())
            .args(args)
            .env("DOCKER_CONFIG", config.path());
        if ca {
            command.env("SSL_CERT_FILE", dir.join("ca.crt"));
        } else {
            command.env_remove("SSL_CERT_FILE");
        }
        command.output().expect("run rbuild")
    };
    let refused = run(&store, &["push", &name], false);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains(&registry.host()) && message.to_lowercase().contains("certificate"),
        "{message}"
    );

    assert_success(&run(&store, &["push", &name], true), "push over TLS");
    let empty = TestStore::empty();
    assert_success(&run(&empty, &["pull", &name], true), "pull over TLS");
}

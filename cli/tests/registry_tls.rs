//! TLS with a generated CA: docker-registry serves HTTPS on loopback with a certificate
//! signed by a CA made here with openssl. Without the CA rbuild refuses the registry
//! (naming it and the TLS cause); with `SSL_CERT_FILE` pointing at the CA, push and pull
//! work; with the CA in `/etc/docker/certs.d/HOST:PORT/ca.crt` (as Docker reads it) too.

mod common;
mod registry_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_success, stderr, TestStore};
use registry_support::{LocalRegistry, TestCertificates};

#[test]
fn push_and_pull_over_tls_with_a_generated_ca() {
    let Some(certs) = TestCertificates::generate() else {
        return;
    };
    let tls = certs.registry_tls();
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
            command.env("SSL_CERT_FILE", certs.path("ca.crt"));
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

/// Docker's per-registry CA directory `/etc/docker/certs.d/HOST:PORT/`, made for one test
/// and removed when dropped (with `certs.d` itself when this made it and it is empty).
struct DockerCertsDir {
    dir: PathBuf,
    made_parent: bool,
}

const CERTS_D: &str = "/etc/docker/certs.d";

impl DockerCertsDir {
    fn install(host: &str, ca: &Path) -> DockerCertsDir {
        let made_parent = !Path::new(CERTS_D).exists();
        let dir = Path::new(CERTS_D).join(host);
        std::fs::create_dir_all(&dir).expect("create certs.d entry");
        let guard = DockerCertsDir { dir, made_parent };
        std::fs::copy(ca, guard.dir.join("ca.crt")).expect("install ca.crt");
        guard
    }
}

impl Drop for DockerCertsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.made_parent {
            let _ = std::fs::remove_dir(CERTS_D);
        }
    }
}

#[test]
fn a_ca_in_docker_certs_d_is_trusted_for_its_registry_only() {
    let Some(certs) = TestCertificates::generate() else {
        return;
    };
    let Some(registry) = LocalRegistry::start_with(&certs.registry_tls()) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let name = format!("{}/certsd/busybox:1", registry.host());
    let store = TestStore::with_busybox();
    assert_success(&store.rbuild(&["tag", "busybox", &name]), "tag");
    let run = |store: &TestStore, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .arg("--root")
            .arg(store.root())
            .args(args)
            .env("DOCKER_CONFIG", config.path())
            .env_remove("SSL_CERT_FILE")
            .output()
            .expect("run rbuild")
    };
    let refused = run(&store, &["push", &name]);
    assert!(!refused.status.success(), "trusted without the CA?");
    {
        let _installed = DockerCertsDir::install(&registry.host(), &certs.path("ca.crt"));
        assert_success(&run(&store, &["push", &name]), "push with certs.d CA");
        let empty = TestStore::empty();
        assert_success(&run(&empty, &["pull", &name]), "pull with certs.d CA");
    }
    assert!(!Path::new(CERTS_D).join(registry.host()).exists());
    let again = run(&TestStore::empty(), &["pull", &name]);
    assert!(!again.status.success(), "the CA outlived its directory");
}

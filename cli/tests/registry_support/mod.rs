//! A real registry for the registry tests: Debian's `docker-registry` (CNCF distribution)
//! started on a free loopback port with a generated config and storage in a temp dir,
//! its access log kept so tests can count requests, killed when the value is dropped.

#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

pub struct LocalRegistry {
    pub dir: TempDir,
    pub port: u16,
    child: Option<Child>,
    extra_config: String,
}

impl LocalRegistry {
    /// None (and a printed skip line) when the registry binary is not installed.
    pub fn start() -> Option<LocalRegistry> {
        LocalRegistry::start_with("")
    }

    /// Starts with `extra` appended to the config (e.g. an `auth:` section).
    pub fn start_with(extra: &str) -> Option<LocalRegistry> {
        if !Path::new(REGISTRY_BINARY).exists() {
            println!("RBUILD-TEST-SKIPPED: {REGISTRY_BINARY} missing (Debian docker-registry)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("rbuild-registry-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let mut registry = LocalRegistry {
            dir,
            port,
            child: None,
            extra_config: extra.to_string(),
        };
        registry.run();
        Some(registry)
    }

    fn run(&mut self) {
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{}\n{}",
            self.dir.path().join("data").display(),
            self.port,
            self.extra_config
        );
        let config_path = self.dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write registry config");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("registry log");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "registry did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// How many blob uploads were started so far (`POST .../blobs/uploads/` in the log).
    pub fn upload_requests(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("\"POST /v2/") && l.contains("/blobs/uploads/"))
            .filter(|l| !l.contains("mount="))
            .count()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs rbuild on `store` with `docker_config` as DOCKER_CONFIG (never the user's).
pub fn rbuild_with(
    store: &Path,
    docker_config: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(store)
        .args(args)
        .env("DOCKER_CONFIG", docker_config)
        .env("HOME", docker_config)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rbuild");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("rbuild output")
}

/// A loopback TCP relay in front of a registry that, while `cutting` is set, drops a
/// connection once it has relayed `limit` bytes of answers: a registry dying mid-blob.
pub struct CuttingRelay {
    pub port: u16,
    pub cutting: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CuttingRelay {
    pub fn start(target: u16, limit: usize) -> CuttingRelay {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let cutting = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&cutting);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let cut = flag.load(Ordering::SeqCst);
                let (mut client_read, mut server_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client_read, &mut server_write);
                });
                std::thread::spawn(move || {
                    relay_answers(server, client, if cut { limit } else { usize::MAX })
                });
            }
        });
        CuttingRelay { port, cutting }
    }
}

fn relay_answers(mut server: TcpStream, mut client: TcpStream, limit: usize) {
    use std::io::{Read, Write};
    let mut sent = 0;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match server.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let allowed = n.min(limit.saturating_sub(sent));
        if client.write_all(&buffer[..allowed]).is_err() || allowed < n {
            break;
        }
        sent += n;
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl in a temp
/// dir, for registries served over TLS.
pub struct TestCertificates {
    pub dir: TempDir,
}

impl TestCertificates {
    /// None (and a printed skip line) when openssl is not installed.
    pub fn generate() -> Option<TestCertificates> {
        if !Path::new("/usr/bin/openssl").exists() {
            println!("RBUILD-TEST-SKIPPED: openssl missing (Debian openssl)");
            return None;
        }
        let certs = TestCertificates {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let key_pair =
            |key: &str| ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key].map(String::from);
        let mut ca = key_pair("ca.key").to_vec();
        ca.extend(
            [
                "-x509",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=rbuild test CA",
            ]
            .map(String::from),
        );
        certs.openssl(&ca);
        let mut csr = key_pair("server.key").to_vec();
        csr.extend(["-out", "server.csr", "-subj", "/CN=127.0.0.1"].map(String::from));
        certs.openssl(&csr);
        fs::write(
            certs.dir.path().join("san.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write san.ext");
        certs.openssl(
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
            ]
            .map(String::from),
        );
        Some(certs)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `http.tls` section of a registry config serving the server certificate.
    pub fn registry_tls(&self) -> String {
        format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            self.path("server.crt").display(),
            self.path("server.key").display()
        )
    }

    pub fn openssl(&self, args: &[String]) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The document `reference` names on a loopback registry, as skopeo reads it (`--raw`).
pub fn raw_manifest(reference: &str) -> String {
    let output = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("run skopeo");
    assert!(
        output.status.success(),
        "skopeo inspect --raw {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

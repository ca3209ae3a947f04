//! The bearer-token flow against a real registry: docker-registry configured with
//! `auth: token` (realm, service, issuer, rootcertbundle) and a small token server run by
//! the test on loopback, which issues RS256 JWTs signed with an openssl-made key and
//! carrying its certificate in the `x5c` header (as distribution requires). Push and pull
//! work, and rbuild asked the realm for the service and the push scope of the repository.

mod common;
mod registry_support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{assert_success, TestStore};
use registry_support::{rbuild_with, LocalRegistry, TestCertificates};

const SERVICE: &str = "rbuild-test";
const ISSUER: &str = "rbuild-test-issuer";

/// A token server on loopback: answers every `GET /token?...` with a JWT granting the
/// scopes asked for, and remembers the query strings. Stopped when dropped.
struct TokenServer {
    port: u16,
    queries: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    fn start(certs: &TestCertificates) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().unwrap().port();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let der = std::fs::read(certs.path("token.der")).expect("token cert");
        let key = certs.path("token.key");
        let (seen, stopping) = (Arc::clone(&queries), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Some(query) = request_query(&client) else {
                    continue;
                };
                let token = sign_token(&query, &der, &key);
                seen.lock().unwrap().push(query);
                let body = format!(r#"{{"token":"{token}","access_token":"{token}"}}"#);
                let mut client = client;
                let _ = write!(
                    client,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer {
            port,
            queries,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The query string of the request on `client` (headers read and dropped).
fn request_query(client: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(client);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
    }
    Some(
        target
            .split_once('?')
            .map(|(_, q)| q.to_string())
            .unwrap_or_default(),
    )
}

/// An RS256 JWT for the scopes of `query`, signed by `openssl dgst` with `key`, with the
/// signing certificate `der` as its `x5c` chain.
fn sign_token(query: &str, der: &[u8], key: &std::path::Path) -> String {
    let mut access = Vec::new();
    for (name, value) in query.split('&').filter_map(|p| p.split_once('=')) {
        if name != "scope" {
            continue;
        }
        let scope = percent_decode(value);
        let parts: Vec<&str> = scope.splitn(3, ':').collect();
        if let [kind, repository, actions] = parts[..] {
            let actions: Vec<&str> = actions.split(',').collect();
            access.push(serde_json::json!({"type": kind, "name": repository, "actions": actions}));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [base64(der, false)]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "ci", "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
        "iat": now, "jti": format!("t{now}-{}", access.len()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        base64(header.to_string().as_bytes(), true),
        base64(claims.to_string().as_bytes(), true)
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl dgst");
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let signature = openssl.wait_with_output().expect("openssl dgst").stdout;
    format!("{signing_input}.{}", base64(&signature, true))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 (padded), or base64url without padding as JWTs use.
fn base64(bytes: &[u8], url: bool) -> String {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(alphabet[((n >> shift) & 63) as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn push_and_pull_with_bearer_tokens_from_a_token_server() {
    let Some(certs) = TestCertificates::generate() else {
        return;
    };
    certs.openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rbuild token issuer",
        ]
        .map(String::from),
    );
    certs.openssl(
        &[
            "x509",
            "-in",
            "token.crt",
            "-outform",
            "DER",
            "-out",
            "token.der",
        ]
        .map(String::from),
    );
    let tokens = TokenServer::start(&certs);
    let auth = format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        tokens.port,
        certs.path("token.crt").display()
    );
    let Some(registry) = LocalRegistry::start_with(&auth) else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let name = format!("{}/tokens/busybox:1", registry.host());
    let store = TestStore::with_busybox();
    assert_success(&store.rbuild(&["tag", "busybox", &name]), "tag");
    let pushed = rbuild_with(store.root(), config.path(), &["push", &name], None);
    assert_success(&pushed, "push with bearer tokens");
    let empty = TestStore::empty();
    let pulled = rbuild_with(empty.root(), config.path(), &["pull", &name], None);
    assert_success(&pulled, "pull with bearer tokens");
    let queries = tokens.queries.lock().unwrap().clone();
    let decoded: Vec<String> = queries.iter().map(|q| percent_decode(q)).collect();
    assert!(
        decoded
            .iter()
            .all(|q| q.contains(&format!("service={SERVICE}"))),
        "{decoded:?}"
    );
    assert!(
        decoded
            .iter()
            .any(|q| q.contains("scope=repository:tokens/busybox:") && q.contains("push")),
        "{decoded:?}"
    );
}

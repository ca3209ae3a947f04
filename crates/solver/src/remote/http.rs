//! Downloading one URL for ADD: an HTTP(S) GET streamed into a scratch directory of the
//! store while it is hashed, written with mode 0600 and, when the server sends
//! `Last-Modified`, that time as mtime; checked against `--checksum` when one is given.
//!
//! Proxies come from HTTP_PROXY / HTTPS_PROXY / NO_PROXY (reqwest reads them). The file is
//! never unpacked and nothing is cached here: whether the step runs is the solver's call.

use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use rbuild_cache::{ScratchDir, Store};
use rbuild_oci::{Digest, DigestingWriter};
use reqwest::blocking::{Client, Response};
use reqwest::header::{LAST_MODIFIED, LOCATION};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

use super::error::RemoteError;
use rbuild_oci::cause_chain;

/// Mode of a downloaded file before `--chmod`, as in BuildKit.
const DOWNLOAD_MODE: u32 = 0o600;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the response headers, and then each read of the body, may take: a stalled
/// server fails the step instead of hanging the build.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A downloaded file, alone in its scratch directory.
pub(super) struct Download {
    /// Holds the file under the name it was downloaded as.
    pub root: ScratchDir,
    pub digest: Digest,
    /// `Last-Modified` as Unix seconds, when the server sent a valid one.
    pub modified: Option<i64>,
}

/// Downloads `url` as `<scratch dir>/<name>`. With `expected`, bytes of another digest are
/// an error and nothing is kept.
pub(super) fn download(
    store: &Store,
    url: &str,
    name: &str,
    expected: Option<&Digest>,
) -> Result<Download, RemoteError> {
    check_file_name(url, name)?;
    let mut response = request(url)?;
    let modified = last_modified(&response);
    let root = store.scratch_dir("http-download")?;
    let path = root.path().join(name);
    let digest = write_body(url, &mut response, &path)?;
    if let Some(expected) = expected {
        if *expected != digest {
            return Err(RemoteError::DigestMismatch {
                url: url.to_string(),
                expected: expected.clone(),
                actual: digest,
            });
        }
    }
    if let Some(seconds) = modified {
        let time = filetime::FileTime::from_unix_time(seconds, 0);
        filetime::set_file_mtime(&path, time)
            .map_err(|e| RemoteError::io("setting the mtime of", &path, e))?;
    }
    Ok(Download {
        root,
        digest,
        modified,
    })
}

/// The name must be one plain path component: it becomes a file name.
fn check_file_name(url: &str, name: &str) -> Result<(), RemoteError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(RemoteError::BadFileName {
            url: url.to_string(),
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Sends the GET; transport failures, redirects that cannot be followed and every status
/// but 2xx are errors.
fn request(url: &str) -> Result<Response, RemoteError> {
    let failed = |e: reqwest::Error| RemoteError::Request {
        url: url.to_string(),
        // reqwest's own message alone rarely says what went wrong ("error sending
        // request"); its sources do ("connection refused").
        cause: cause_chain(&e.without_url()),
    };
    let client = Client::builder()
        .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(READ_TIMEOUT)
        .build()
        .map_err(failed)?;
    let response = client.get(url).send().map_err(failed)?;
    let status = response.status();
    if status.is_redirection() {
        // reqwest follows every redirect it can; one it hands back has no Location, an
        // unusable one, or one to another scheme. Its body is not the file.
        let location = response
            .headers()
            .get(LOCATION)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        return Err(RemoteError::Redirect {
            url: url.to_string(),
            status: status.to_string(),
            location,
        });
    }
    if !status.is_success() {
        return Err(RemoteError::Status {
            url: url.to_string(),
            status: status.to_string(),
        });
    }
    Ok(response)
}

/// `Last-Modified` (an HTTP date) as Unix seconds.
fn last_modified(response: &Response) -> Option<i64> {
    let text = response.headers().get(LAST_MODIFIED)?.to_str().ok()?;
    parse_http_date(text)
}

fn parse_http_date(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text.trim(), &Rfc2822)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Streams the body into a new file at `path` (mode 0600) and returns its digest.
fn write_body(url: &str, body: &mut Response, path: &Path) -> Result<Digest, RemoteError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DOWNLOAD_MODE)
        .open(path)
        .map_err(|e| RemoteError::io("creating", path, e))?;
    // The umask may have taken bits away from the mode given at creation.
    fs::set_permissions(path, fs::Permissions::from_mode(DOWNLOAD_MODE))
        .map_err(|e| RemoteError::io("setting the mode of", path, e))?;
    let mut writer = DigestingWriter::new(BufWriter::new(file));
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(RemoteError::Request {
                    url: url.to_string(),
                    cause: format!("reading the response: {}", cause_chain(&e)),
                })
            }
        };
        writer
            .write_all(&buffer[..read])
            .map_err(|e| RemoteError::io("writing", path, e))?;
    }
    let (mut buffered, digest, _) = writer.finish();
    buffered
        .flush()
        .map_err(|e| RemoteError::io("writing", path, e))?;
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_to_unix_seconds() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Tue, 15 Nov 1994 12:45:26 +0000"),
            Some(784_903_526)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn file_names_must_be_one_component() {
        for bad in ["", ".", "..", "a/b"] {
            assert!(check_file_name("http://h/x", bad).is_err(), "{bad:?}");
        }
        assert!(check_file_name("http://h/x", "app.tar.gz").is_ok());
    }
}

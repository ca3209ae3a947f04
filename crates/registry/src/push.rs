//! Pushing documents and blobs from the store, a few blobs at once: each is checked with `HEAD` first and
//! skipped when present, mounted from another repository of the same registry when the
//! caller names candidates, else uploaded streaming from the store file (one `PUT` for a
//! small blob, `PATCH` chunks then `PUT` for a large one). Manifests follow their blobs,
//! an index follows its manifests; `Docker-Content-Digest` of every answer is checked.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use rbuild_cache::Store;
use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::{Digest, ImageReference};
use reqwest::blocking::Body;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};

use crate::client::{RegistryClient, Scope};
use crate::error::RegistryError;
use crate::parallel::map_parallel;
use crate::pull::header_digest;
use crate::settings::RegistrySettings;

/// Blobs up to this size go in one `PUT`; larger ones in chunks of this size.
const CHUNK: u64 = 64 * 1024 * 1024;

/// One manifest and the blobs (config, layers) it needs, all in the store.
#[derive(Clone, Debug)]
pub struct PushManifest {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
    pub blobs: Vec<Descriptor>,
}

#[derive(Clone, Debug)]
pub enum PushTarget {
    Manifest(PushManifest),
    Index {
        descriptor: Descriptor,
        bytes: Vec<u8>,
        manifests: Vec<PushManifest>,
    },
}

#[derive(Debug, Default)]
pub struct PushSummary {
    pub uploaded: usize,
    pub skipped: usize,
    pub mounted: usize,
    /// Digest of the document the reference now names.
    pub digest: Option<Digest>,
}

/// Pushes `target` as `reference`. `mount_from` names other repositories of the same
/// registry that may hold the blobs already.
pub fn push_image(
    store: &Store,
    settings: &RegistrySettings,
    reference: &ImageReference,
    target: &PushTarget,
    mount_from: &[String],
) -> Result<PushSummary, RegistryError> {
    let client = RegistryClient::for_reference(settings, reference)?;
    let pusher = Pusher {
        store,
        client: &client,
        repository: reference.path(),
        mount_from,
    };
    let mut summary = PushSummary::default();
    let tag = reference.tag().map(str::to_string);
    let top = match target {
        PushTarget::Manifest(manifest) => {
            pusher.push_blobs(manifest, &mut summary)?;
            (&manifest.descriptor, &manifest.bytes)
        }
        PushTarget::Index {
            descriptor,
            bytes,
            manifests,
        } => {
            for manifest in manifests {
                pusher.push_blobs(manifest, &mut summary)?;
                pusher.put_manifest(&manifest.descriptor, &manifest.bytes, None)?;
            }
            (descriptor, bytes)
        }
    };
    summary.digest = Some(pusher.put_manifest(top.0, top.1, tag.as_deref())?);
    Ok(summary)
}

struct Pusher<'a> {
    store: &'a Store,
    client: &'a RegistryClient,
    repository: &'a str,
    mount_from: &'a [String],
}

impl Pusher<'_> {
    fn scope(&self) -> Scope {
        let mut scope = Scope::push(self.repository);
        for other in self.mount_from {
            scope.0.push(format!("repository:{other}:pull"));
        }
        scope
    }

    fn push_blobs(
        &self,
        manifest: &PushManifest,
        summary: &mut PushSummary,
    ) -> Result<(), RegistryError> {
        let digests = manifest
            .blobs
            .iter()
            .map(|blob| {
                blob.digest()
                    .to_string()
                    .parse()
                    .map_err(|e| self.client.document(format!("bad blob digest: {e}")))
            })
            .collect::<Result<Vec<Digest>, RegistryError>>()?;
        let outcomes = map_parallel(
            &digests,
            |digest| self.push_blob(digest),
            || {
                self.client
                    .document("an upload thread panicked".to_string())
            },
        )?;
        for outcome in outcomes {
            match outcome {
                BlobOutcome::Present => summary.skipped += 1,
                BlobOutcome::Mounted => summary.mounted += 1,
                BlobOutcome::Uploaded => summary.uploaded += 1,
            }
        }
        Ok(())
    }

    fn push_blob(&self, digest: &Digest) -> Result<BlobOutcome, RegistryError> {
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/{digest}", self.repository))?;
        let head = self
            .client
            .send(&self.scope(), &mut |http| Ok(http.head(url.clone())))?;
        if head.status().is_success() {
            return Ok(BlobOutcome::Present);
        }
        // A failed mount opens an upload session: one candidate is tried, its session used.
        let mut location = None;
        let candidate = self
            .mount_from
            .iter()
            .find(|o| o.as_str() != self.repository);
        if let Some(other) = candidate {
            let url = self.client.url(&format!(
                "/v2/{}/blobs/uploads/?mount={digest}&from={other}",
                self.repository
            ))?;
            let response = self.client.send(&self.scope(), &mut |http| {
                Ok(http.post(url.clone()).header(CONTENT_LENGTH, "0"))
            })?;
            if response.status() == StatusCode::CREATED {
                return Ok(BlobOutcome::Mounted);
            }
            let response = self.client.check(response, "blob mount")?;
            location = Some(self.location(&response)?);
        }
        let location = match location {
            Some(location) => location,
            None => self.start_upload()?,
        };
        self.upload(digest, location)?;
        Ok(BlobOutcome::Uploaded)
    }

    fn start_upload(&self) -> Result<Url, RegistryError> {
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/uploads/", self.repository))?;
        let response = self.client.send(&self.scope(), &mut |http| {
            Ok(http.post(url.clone()).header(CONTENT_LENGTH, "0"))
        })?;
        let response = self.client.check(response, "starting a blob upload")?;
        self.location(&response)
    }

    fn location(&self, response: &reqwest::blocking::Response) -> Result<Url, RegistryError> {
        let value = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                self.client
                    .document("upload answer without Location".to_string())
            })?;
        response.url().join(value).map_err(|e| {
            self.client
                .document(format!("bad upload Location {value}: {e}"))
        })
    }

    /// Streams the blob from the store: monolithic when small, in chunks when large.
    fn upload(&self, digest: &Digest, mut location: Url) -> Result<(), RegistryError> {
        let size = self.store.blobs().size(digest)?;
        let what = format!("upload of blob {digest}");
        if size > CHUNK {
            let mut offset = 0;
            while offset < size {
                let length = CHUNK.min(size - offset);
                let url = location.clone();
                let response = self.client.send(&self.scope(), &mut |http| {
                    let body = self.body(digest, offset, length)?;
                    Ok(http
                        .patch(url.clone())
                        .header(CONTENT_TYPE, "application/octet-stream")
                        .header(CONTENT_RANGE, format!("{}-{}", offset, offset + length - 1))
                        .body(body))
                })?;
                let response = self.client.check(response, &what)?;
                location = self.location(&response)?;
                offset += length;
            }
        }
        let mut url = location;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let monolithic = size <= CHUNK;
        let response = self.client.send(&self.scope(), &mut |http| {
            let request = http
                .put(url.clone())
                .header(CONTENT_TYPE, "application/octet-stream");
            Ok(if monolithic {
                request.body(self.body(digest, 0, size)?)
            } else {
                request.header(CONTENT_LENGTH, "0")
            })
        })?;
        let response = self.client.check(response, &what)?;
        self.check_digest(&response, digest, &what)
    }

    fn body(&self, digest: &Digest, offset: u64, length: u64) -> Result<Body, RegistryError> {
        let mut file: File = self.store.blobs().open(digest)?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| {
            self.client
                .document(format!("cannot read blob {digest}: {e}"))
        })?;
        Ok(Body::sized(file.take(length), length))
    }

    fn put_manifest(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let name = tag.map_or_else(|| digest.to_string(), str::to_string);
        let url = self
            .client
            .url(&format!("/v2/{}/manifests/{name}", self.repository))?;
        let media_type = descriptor.media_type().to_string();
        let response = self.client.send(&self.scope(), &mut |http| {
            Ok(http
                .put(url.clone())
                .header(CONTENT_TYPE, media_type.as_str())
                .body(bytes.to_vec()))
        })?;
        let what = format!("manifest {name}");
        let response = self.client.check(response, &what)?;
        self.check_digest(&response, &digest, &what)?;
        Ok(digest)
    }

    fn check_digest(
        &self,
        response: &reqwest::blocking::Response,
        digest: &Digest,
        what: &str,
    ) -> Result<(), RegistryError> {
        match header_digest(response) {
            Some(actual) if actual != *digest => Err(RegistryError::DigestMismatch {
                registry: self.client.registry().to_string(),
                reference: self.client.reference().to_string(),
                what: what.to_string(),
                expected: digest.clone(),
                actual,
            }),
            _ => Ok(()),
        }
    }
}

enum BlobOutcome {
    Present,
    Mounted,
    Uploaded,
}

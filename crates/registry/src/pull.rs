//! Pulling one platform of an image into the store: the manifest (through an index when
//! the name is multi-platform), its config and layers. Documents are checked against the
//! digest asked for and `Docker-Content-Digest`; layers stream into the blob store while
//! hashed (a blob of the wrong digest is never renamed in) and stay compressed; several are
//! fetched at once. The name is recorded last, so a failed pull leaves no name behind.
//!
//! Mirrors of the registry are tried in order before the registry itself.

use rbuild_cache::Store;
use rbuild_oci::oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbuild_oci::{
    descriptor, index_platforms, media_types, Digest, ImageConfig, ImageReference, Platform,
};
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::client::{RegistryClient, Scope};
use crate::credentials::CredentialStore;
use crate::error::RegistryError;
use crate::parallel::map_parallel;
use crate::settings::RegistrySettings;

const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug)]
pub struct PullSummary {
    /// The platform's manifest as stored.
    pub manifest: Descriptor,
    pub layers_fetched: usize,
    pub layers_present: usize,
    /// The endpoint the image came from (the registry or a mirror).
    pub endpoint: String,
}

/// Pulls `reference` for `platform` and names it in the store.
pub fn pull_image(
    store: &Store,
    settings: &RegistrySettings,
    reference: &ImageReference,
    platform: &Platform,
) -> Result<PullSummary, RegistryError> {
    let _lease = store.lease()?;
    let registry = reference.domain();
    let credentials = CredentialStore::open_default()?;
    let mut endpoints = settings.entry(registry).mirrors;
    endpoints.push(registry.to_string());
    let mut last_error = None;
    for (n, endpoint) in endpoints.iter().enumerate() {
        let is_origin = n + 1 == endpoints.len();
        // A mirror gets its own credential, never the registry's.
        let host = endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let attempt = credentials
            .get(host.trim_end_matches('/'))
            .and_then(|credential| {
                RegistryClient::connect(
                    settings,
                    registry,
                    endpoint,
                    credential,
                    &reference.to_string(),
                )
            })
            .and_then(|client| pull_from(store, &client, reference, platform));
        match attempt {
            Ok(mut summary) => {
                summary.endpoint = endpoint.clone();
                return Ok(summary);
            }
            Err(e) if !is_origin => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or(RegistryError::NotFound {
        registry: registry.to_string(),
        reference: reference.to_string(),
        what: "endpoint".to_string(),
    }))
}

fn pull_from(
    store: &Store,
    client: &RegistryClient,
    reference: &ImageReference,
    platform: &Platform,
) -> Result<PullSummary, RegistryError> {
    let repository = reference.path();
    let wanted = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.to_string(),
        (None, None) => "latest".to_string(),
    };
    let top = fetch_manifest(client, repository, &wanted, reference.digest())?;
    store
        .blobs()
        .ingest(&mut top.bytes.as_slice(), Some(&top.digest))?;
    let manifest = if media_types::is_index(&top.media_type) {
        let index: ImageIndex = serde_json::from_slice(&top.bytes)
            .map_err(|e| client.document(format!("unreadable index: {e}")))?;
        let entries = index_platforms(&index);
        let chosen = entries
            .iter()
            .find(|(_, candidate)| candidate.satisfies(platform))
            .ok_or_else(|| RegistryError::NoPlatform {
                reference: reference.to_string(),
                platform: platform.to_string(),
                available: entries
                    .iter()
                    .map(|(_, p)| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let digest: Digest = chosen
            .0
            .digest()
            .to_string()
            .parse()
            .map_err(|e| client.document(format!("bad manifest digest in index: {e}")))?;
        fetch_manifest(client, repository, &digest.to_string(), Some(&digest))?
    } else {
        top
    };
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| client.document(format!("unreadable manifest: {e}")))?;
    let config_digest = descriptor_digest_of(client, parsed.config())?;
    if !store.blobs().contains(&config_digest) {
        fetch_blob(store, client, repository, &config_digest)?;
    }
    let config: ImageConfig = serde_json::from_slice(&store.blobs().read(&config_digest)?)
        .map_err(|e| client.document(format!("unreadable image config: {e}")))?;
    if config.rootfs.diff_ids.len() != parsed.layers().len() {
        return Err(
            client.document("the config's diff ids do not match the manifest's layers".to_string())
        );
    }
    let (fetched, present) = fetch_layers(store, client, repository, parsed.layers())?;
    for (layer, diff_id) in parsed.layers().iter().zip(&config.rootfs.diff_ids) {
        store.layers().add_blob_layer(diff_id, layer)?;
    }
    store
        .blobs()
        .ingest(&mut manifest.bytes.as_slice(), Some(&manifest.digest))?;
    let manifest_descriptor = descriptor(
        &manifest.media_type,
        &manifest.digest,
        manifest.bytes.len() as u64,
    );
    if let Some(tag) = reference.tag() {
        let name = ImageReference::parse(&format!(
            "{}/{}:{tag}",
            reference.domain(),
            reference.path()
        ))
        .map_err(|e| client.document(e.to_string()))?;
        store.tag_platform(&name, &manifest_descriptor, &config.platform())?;
    }
    Ok(PullSummary {
        manifest: manifest_descriptor,
        layers_fetched: fetched,
        layers_present: present,
        endpoint: String::new(),
    })
}

/// Fetches the manifest `reference` names, its config and the layers `wanted_layer` picks into
/// the store, verified; names nothing. Returns the manifest's descriptor and bytes. For
/// artifacts such as a build cache, which are not images of a platform.
pub fn pull_artifact(
    store: &Store,
    settings: &RegistrySettings,
    reference: &ImageReference,
    wanted_layer: &dyn Fn(&Descriptor) -> bool,
) -> Result<(Descriptor, Vec<u8>), RegistryError> {
    let _lease = store.lease()?;
    let client = RegistryClient::for_reference(settings, reference)?;
    let repository = reference.path();
    let wanted = reference.digest().map_or_else(
        || reference.tag().unwrap_or("latest").to_string(),
        ToString::to_string,
    );
    let manifest = fetch_manifest(&client, repository, &wanted, reference.digest())?;
    let parsed: ImageManifest = serde_json::from_slice(&manifest.bytes)
        .map_err(|e| client.document(format!("unreadable manifest: {e}")))?;
    let mut blobs = vec![parsed.config().clone()];
    blobs.extend(parsed.layers().iter().filter(|l| wanted_layer(l)).cloned());
    fetch_layers(store, &client, repository, &blobs)?;
    let descriptor = descriptor(
        &manifest.media_type,
        &manifest.digest,
        manifest.bytes.len() as u64,
    );
    Ok((descriptor, manifest.bytes))
}

/// A manifest or index document as the registry sent it.
pub(crate) struct Document {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// `GET /v2/<repo>/manifests/<tag or digest>`, checked against `expected` and the
/// registry's `Docker-Content-Digest`.
pub(crate) fn fetch_manifest(
    client: &RegistryClient,
    repository: &str,
    wanted: &str,
    expected: Option<&Digest>,
) -> Result<Document, RegistryError> {
    let url = client.url(&format!("/v2/{repository}/manifests/{wanted}"))?;
    let response = client.send(&Scope::pull(repository), &mut |http| {
        Ok(http.get(url.clone()).header(ACCEPT, MANIFEST_TYPES))
    })?;
    let response = client.check(response, &format!("manifest {wanted}"))?;
    let announced = header_digest(&response);
    let header_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
    let bytes = response
        .bytes()
        .map_err(|e| client.unreachable(&e))?
        .to_vec();
    let digest = Digest::of(&bytes);
    for expected in expected.into_iter().chain(announced.as_ref()) {
        if *expected != digest {
            return Err(RegistryError::DigestMismatch {
                registry: client.registry().to_string(),
                reference: client.reference().to_string(),
                what: format!("manifest {wanted}"),
                expected: expected.clone(),
                actual: digest,
            });
        }
    }
    let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    let media_type = body_type
        .or(header_type)
        .ok_or_else(|| client.document(format!("manifest {wanted} has no media type")))?;
    if !media_types::is_index(&media_type) && !media_types::is_manifest(&media_type) {
        return Err(client.document(format!("unsupported manifest type {media_type}")));
    }
    Ok(Document {
        bytes,
        media_type,
        digest,
    })
}

pub(crate) fn header_digest(response: &reqwest::blocking::Response) -> Option<Digest> {
    response
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn descriptor_digest_of(client: &RegistryClient, d: &Descriptor) -> Result<Digest, RegistryError> {
    d.digest()
        .to_string()
        .parse()
        .map_err(|e| client.document(format!("bad digest {}: {e}", d.digest())))
}

/// Downloads the layers not yet stored, `PARALLEL_BLOBS` at a time. Returns how many were
/// fetched and how many were already present.
fn fetch_layers(
    store: &Store,
    client: &RegistryClient,
    repository: &str,
    layers: &[Descriptor],
) -> Result<(usize, usize), RegistryError> {
    let mut missing = Vec::new();
    for layer in layers {
        let digest = descriptor_digest_of(client, layer)?;
        if !store.blobs().contains(&digest) && !missing.contains(&digest) {
            missing.push(digest);
        }
    }
    let fetched = missing.len();
    map_parallel(
        &missing,
        |digest| fetch_blob(store, client, repository, digest),
        || client.document("a download thread panicked".to_string()),
    )?;
    Ok((fetched, layers.len() - fetched))
}

/// Streams one blob into the store, verified against `digest` on the way.
fn fetch_blob(
    store: &Store,
    client: &RegistryClient,
    repository: &str,
    digest: &Digest,
) -> Result<(), RegistryError> {
    let url = client.url(&format!("/v2/{repository}/blobs/{digest}"))?;
    let response = client.send(&Scope::pull(repository), &mut |http| {
        Ok(http.get(url.clone()))
    })?;
    let mut response = client.check(response, &format!("blob {digest}"))?;
    match store.blobs().ingest(&mut response, Some(digest)) {
        Ok(_) => Ok(()),
        Err(rbuild_cache::StoreError::DigestMismatch { expected, actual }) => {
            Err(RegistryError::DigestMismatch {
                registry: client.registry().to_string(),
                reference: client.reference().to_string(),
                what: format!("blob {digest}"),
                expected,
                actual,
            })
        }
        Err(
            rbuild_cache::StoreError::Io { source, .. }
            | rbuild_cache::StoreError::SourceRead(source),
        ) => Err(RegistryError::Unreachable {
            registry: client.registry().to_string(),
            reference: client.reference().to_string(),
            cause: format!("download of blob {digest} broke off: {source}"),
        }),
        Err(e) => Err(e.into()),
    }
}

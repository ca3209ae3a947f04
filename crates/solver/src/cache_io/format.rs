//! The cache directory format: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`) whose single manifest has the cache document as its config (media
//! type `application/vnd.rbuild.cache.config.v1+json`) and the layer blobs as its layers.
//!
//! Paths, documents and verified reads only; what goes into a cache is `export`'s choice.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rbuild_oci::oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use rbuild_oci::{descriptor, descriptor_digest, media_types, Digest, DigestingWriter};
use serde::{Deserialize, Serialize};

use super::CacheIoError;

pub(super) const CONFIG_MEDIA_TYPE: &str = "application/vnd.rbuild.cache.config.v1+json";
/// The manifest's `artifactType`: registries that take images take it as an artifact.
pub(super) const ARTIFACT_TYPE: &str = "application/vnd.rbuild.cache.v1";
pub(super) const FORMAT_VERSION: u32 = 1;
const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// Documents (index, manifest, cache document) larger than this are refused.
const MAX_DOCUMENT_BYTES: u64 = 256 << 20;

/// The cache document: records and the layer blobs their chains need.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct CacheDocument {
    pub version: u32,
    pub records: Vec<RecordEntry>,
    pub layers: Vec<LayerEntry>,
    /// `cache-mounts=true`: contents of `RUN --mount=type=cache` directories (absent in
    /// caches written without it, and ignored by readers that do not ask for them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_mounts: Vec<CacheMountEntry>,
}

impl CacheDocument {
    /// An empty document of the current format.
    pub fn default_version() -> CacheDocument {
        CacheDocument {
            version: FORMAT_VERSION,
            ..CacheDocument::default()
        }
    }
}

/// One cache record: a key, the chain it produced, and where it came from.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RecordEntry {
    pub key: Digest,
    pub chain: Vec<Digest>,
    /// Unix seconds when the result was first produced.
    pub created: i64,
    pub build_id: String,
    /// The canonical JSON the key is the sha256 of.
    pub material: String,
}

/// A layer blob and the diff id it decompresses to.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LayerEntry {
    pub diff_id: Digest,
    pub blob: Descriptor,
}

/// The contents of one cache mount: its id (for messages), the store name of the cache, and
/// the layer tar (blob and diff id) of instance 0's content directories.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CacheMountEntry {
    pub id: String,
    pub key: Digest,
    pub diff_id: Digest,
    pub blob: Descriptor,
}

/// The annotation that marks a manifest layer as cache-mount contents (value: the mount's
/// id), so that a registry import can leave such blobs behind when it does not want them.
pub(super) const CACHE_MOUNT_ANNOTATION: &str = "org.rbuild.cache.mount";

/// Whether a layer of a cache manifest holds cache-mount contents rather than an image
/// layer.
pub fn is_cache_mount_layer(layer: &Descriptor) -> bool {
    layer
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(CACHE_MOUNT_ANNOTATION))
}

/// A cache directory on disk.
pub(super) struct CacheDir {
    root: PathBuf,
}

impl CacheDir {
    pub fn new(root: &Path) -> CacheDir {
        CacheDir {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// Creates `oci-layout` and the blobs directory.
    pub fn create_layout(&self) -> Result<(), CacheIoError> {
        let blobs = self.root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(CacheIoError::io("creating", &blobs))?;
        write_file(&self.root.join("oci-layout"), OCI_LAYOUT.as_bytes())
    }

    /// Stores `bytes` as a blob; returns its descriptor.
    pub fn put_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, CacheIoError> {
        let digest = Digest::of(bytes);
        write_file(&self.blob_path(&digest), bytes)?;
        Ok(descriptor(media_type, &digest, bytes.len() as u64))
    }

    /// Stores what `write` writes as a blob of `media_type` (staged in the blobs directory,
    /// renamed to its digest); returns its descriptor and what `write` returned, or `None`
    /// (nothing stored) when `write` had nothing to write.
    pub fn put_blob_streamed<T>(
        &self,
        media_type: &str,
        write: impl FnOnce(&mut dyn Write) -> Result<Option<T>, CacheIoError>,
    ) -> Result<Option<(Descriptor, T)>, CacheIoError> {
        let staged = self.root.join("blobs").join("sha256").join(".incoming");
        let file = File::create(&staged).map_err(CacheIoError::io("creating", &staged))?;
        let mut out = DigestingWriter::new(BufWriter::new(file));
        let written = write(&mut out);
        let (buffered, digest, size) = out.finish();
        let flushed = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .map_err(CacheIoError::io("writing", &staged));
        let value = match written.and_then(|value| flushed.map(|()| value)) {
            Ok(Some(value)) => value,
            other => {
                let _ = std::fs::remove_file(&staged);
                return other.map(|_| None);
            }
        };
        let path = self.blob_path(&digest);
        std::fs::rename(&staged, &path).map_err(CacheIoError::io("moving into place", &path))?;
        Ok(Some((descriptor(media_type, &digest, size), value)))
    }

    /// Writes the manifest over `document` and `layers`, and `index.json` pointing at it.
    pub fn write_documents(
        &self,
        document: &CacheDocument,
        layers: Vec<Descriptor>,
    ) -> Result<(), CacheIoError> {
        let config_bytes = to_json(document, &self.root)?;
        let config = self.put_blob(CONFIG_MEDIA_TYPE, &config_bytes)?;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": config,
            "layers": layers,
        });
        let manifest =
            self.put_blob(media_types::OCI_MANIFEST, &to_json(&manifest, &self.root)?)?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_INDEX,
            "manifests": [manifest],
        });
        write_file(&self.root.join("index.json"), &to_json(&index, &self.root)?)
    }

    /// Reads and verifies `index.json`, the manifest and the cache document.
    pub fn read_document(&self) -> Result<CacheDocument, CacheIoError> {
        let index_path = self.root.join("index.json");
        let index: ImageIndex = parse(&read_limited(&index_path)?, &index_path)?;
        let manifest_ref = index
            .manifests()
            .first()
            .ok_or_else(|| self.not_a_cache("index.json lists no manifest"))?;
        let manifest: ImageManifest = parse(
            &self.read_blob(manifest_ref)?,
            &self.root.join("index.json"),
        )?;
        let config = manifest.config();
        if config.media_type().to_string() != CONFIG_MEDIA_TYPE {
            return Err(self.not_a_cache(&format!(
                "its manifest's config is {}, not {CONFIG_MEDIA_TYPE}",
                config.media_type()
            )));
        }
        let document: CacheDocument = parse(&self.read_blob(config)?, &self.root)?;
        if document.version != FORMAT_VERSION {
            return Err(self.not_a_cache(&format!(
                "format version {} (this rbuild reads {FORMAT_VERSION})",
                document.version
            )));
        }
        Ok(document)
    }

    /// Whether the directory holds an rbuild cache (what an export may replace).
    pub fn holds_cache(&self) -> bool {
        self.read_document().is_ok()
    }

    /// A blob's bytes, checked against the descriptor's digest.
    fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>, CacheIoError> {
        let digest = descriptor_digest(descriptor)
            .map_err(|e| self.not_a_cache(&format!("bad digest: {e}")))?;
        let bytes = read_limited(&self.blob_path(&digest))?;
        if Digest::of(&bytes) != digest {
            return Err(self.not_a_cache(&format!("blob {digest} does not match its digest")));
        }
        Ok(bytes)
    }

    fn not_a_cache(&self, reason: &str) -> CacheIoError {
        CacheIoError::NotACache {
            path: self.root.clone(),
            reason: reason.to_string(),
        }
    }
}

fn to_json<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, CacheIoError> {
    serde_json::to_vec(value).map_err(|e| CacheIoError::NotACache {
        path: path.to_path_buf(),
        reason: format!("cannot encode a document: {e}"),
    })
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], path: &Path) -> Result<T, CacheIoError> {
    serde_json::from_slice(bytes).map_err(|e| CacheIoError::NotACache {
        path: path.to_path_buf(),
        reason: format!("unreadable document: {e}"),
    })
}

fn read_limited(path: &Path) -> Result<Vec<u8>, CacheIoError> {
    let file = File::open(path).map_err(CacheIoError::io("reading", path))?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(CacheIoError::io("reading", path))?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(CacheIoError::NotACache {
            path: path.to_path_buf(),
            reason: "document too large".to_string(),
        });
    }
    Ok(bytes)
}

/// Writes and syncs a whole file.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CacheIoError> {
    let mut file = File::create(path).map_err(CacheIoError::io("creating", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(CacheIoError::io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key_text: &str) -> RecordEntry {
        RecordEntry {
            key: Digest::of(key_text.as_bytes()),
            chain: vec![Digest::of(b"layer")],
            created: 1_700_000_000,
            build_id: "b1".into(),
            material: key_text.into(),
        }
    }

    #[test]
    fn documents_round_trip_and_tampering_is_detected() {
        let work = tempfile::tempdir().unwrap();
        let dir = CacheDir::new(work.path());
        dir.create_layout().unwrap();
        let layer = dir
            .put_blob(media_types::OCI_LAYER_GZIP, b"gzip bytes")
            .unwrap();
        let document = CacheDocument {
            records: vec![record("{\"op\":1}")],
            layers: vec![LayerEntry {
                diff_id: Digest::of(b"tar"),
                blob: layer.clone(),
            }],
            ..CacheDocument::default_version()
        };
        dir.write_documents(&document, vec![layer]).unwrap();
        let read = dir.read_document().unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.records[0].key, document.records[0].key);
        assert_eq!(read.layers[0].diff_id, Digest::of(b"tar"));

        // Rewrite the cache document in place: its digest no longer matches.
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.path().join("index.json")).unwrap())
                .unwrap();
        let manifest_digest: Digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.blob_path(&manifest_digest)).unwrap())
                .unwrap();
        let config: Digest = manifest["config"]["digest"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        std::fs::write(dir.blob_path(&config), b"{}").unwrap();
        assert!(matches!(
            dir.read_document(),
            Err(CacheIoError::NotACache { .. })
        ));
        assert!(!dir.holds_cache());
    }
}

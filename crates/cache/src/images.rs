//! `ImageStore`: image names (normalized references) pointing at a manifest or index blob.
//!
//! A name is written only after its target blob exists. What the target references
//! (manifests, configs, layers) is read by check and prune, not here.

use std::sync::Arc;

use rbuild_oci::oci_spec::image::Descriptor;
use rbuild_oci::ImageReference;
use rusqlite::{params, OptionalExtension};

use crate::db::unix_seconds;
use crate::descriptor::descriptor_digest;
use crate::error::{DbContext, StoreError};
use crate::store::Shared;

/// One named image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageEntry {
    pub name: ImageReference,
    pub target: Descriptor,
    /// When the name was last pointed somewhere (Unix seconds).
    pub updated: i64,
}

/// Image names → manifest or index blobs.
#[derive(Debug)]
pub struct ImageStore {
    shared: Arc<Shared>,
}

impl ImageStore {
    pub(crate) fn new(shared: Arc<Shared>) -> ImageStore {
        ImageStore { shared }
    }

    /// Points `name` at `target`, whose blob must already be stored.
    pub fn tag(&self, name: &ImageReference, target: &Descriptor) -> Result<(), StoreError> {
        let digest = descriptor_digest(target)?;
        let json = serde_json::to_string(target)
            .map_err(|e| StoreError::corrupt(format!("descriptor of {name}"), e))?;
        let blob = self.shared.layout.blob(&digest);
        self.shared.db.write("tagging an image", |tx| {
            if !blob.is_file() {
                return Err(StoreError::BlobNotFound(digest.clone()));
            }
            tx.execute(
                "INSERT OR REPLACE INTO images (name, target, descriptor, updated)
                 VALUES (?1, ?2, ?3, ?4)",
                params![name.to_string(), digest.to_string(), json, unix_seconds()],
            )
            .db("tagging an image")?;
            Ok(())
        })
    }

    /// What `name` points at.
    pub fn get(&self, name: &ImageReference) -> Result<Option<Descriptor>, StoreError> {
        let json: Option<String> = self.shared.db.read("looking up an image name", |c| {
            c.query_row(
                "SELECT descriptor FROM images WHERE name = ?1",
                [name.to_string()],
                |row| row.get(0),
            )
            .optional()
        })?;
        json.map(|json| parse_descriptor(&name.to_string(), &json))
            .transpose()
    }

    /// Every named image, sorted by name.
    pub fn list(&self) -> Result<Vec<ImageEntry>, StoreError> {
        let rows: Vec<(String, String, i64)> = self.shared.db.read("listing images", |c| {
            c.prepare("SELECT name, descriptor, updated FROM images ORDER BY name")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })?;
        rows.into_iter()
            .map(|(name, json, updated)| {
                Ok(ImageEntry {
                    name: ImageReference::parse(&name)
                        .map_err(|e| StoreError::corrupt(format!("image name {name:?}"), e))?,
                    target: parse_descriptor(&name, &json)?,
                    updated,
                })
            })
            .collect()
    }

    /// Removes `name`; returns whether it existed. The blobs stay until prune.
    pub fn remove(&self, name: &ImageReference) -> Result<bool, StoreError> {
        self.shared.db.write("removing an image name", |tx| {
            let removed = tx
                .execute("DELETE FROM images WHERE name = ?1", [name.to_string()])
                .db("removing an image name")?;
            Ok(removed > 0)
        })
    }
}

fn parse_descriptor(name: &str, json: &str) -> Result<Descriptor, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::corrupt(format!("descriptor of image {name}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptor::descriptor;
    use crate::Store;
    use rbuild_oci::media_types;

    #[test]
    fn tag_get_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let manifest = br#"{"schemaVersion":2}"#;
        let digest = store.blobs().put(manifest).unwrap();
        let target = descriptor(media_types::OCI_MANIFEST, manifest.len() as u64, &digest).unwrap();
        let app = ImageReference::parse("app:1.0").unwrap();
        let busybox = ImageReference::parse("busybox").unwrap();
        store.images().tag(&app, &target).unwrap();
        store.images().tag(&busybox, &target).unwrap();

        assert_eq!(store.images().get(&app).unwrap(), Some(target.clone()));
        let names: Vec<String> = store
            .images()
            .list()
            .unwrap()
            .into_iter()
            .map(|e| e.name.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "docker.io/library/app:1.0",
                "docker.io/library/busybox:latest"
            ]
        );
        assert!(store.images().remove(&app).unwrap());
        assert!(!store.images().remove(&app).unwrap());
        assert_eq!(store.images().get(&app).unwrap(), None);
    }

    #[test]
    fn tagging_a_missing_blob_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let target =
            descriptor(media_types::OCI_MANIFEST, 2, &rbuild_oci::Digest::of(b"{}")).unwrap();
        let err = store
            .images()
            .tag(&ImageReference::parse("x").unwrap(), &target)
            .unwrap_err();
        assert!(matches!(err, StoreError::BlobNotFound(_)), "{err}");
    }
}

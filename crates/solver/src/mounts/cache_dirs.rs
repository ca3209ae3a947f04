//! `RUN --mount=type=cache`: which store cache-mount instance a mount uses and what the
//! sandbox mounts from it. A plain cache is the instance's `data/` directory, created with
//! the mount's uid, gid and mode; a cache seeded `from` a stage or image is an overlay of
//! that source with the instance's `upper/` keeping the changes. The contents are never
//! part of a layer or a cache key.
//!
//! Locking and pruning live in the store (`rbuild_cache::CacheMounts`); this module only
//! decides names and layout.

use std::os::unix::fs::{chown, DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rbuild_cache::{CacheMountLease, CacheMountSharing, Store};
use rbuild_exec::{CancelToken, MountSource, SandboxError};
use rbuild_oci::Digest;

use super::error::MountError;
use crate::error::StepFailure;
use crate::graph::CacheSharing;

/// One cache mount as the graph describes it.
pub(crate) struct CacheMountRequest<'a> {
    pub id: &'a str,
    pub sharing: CacheSharing,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// The seed's key and layer directories (top-most first), with `source` inside it.
    pub from: Option<(&'a Digest, Vec<PathBuf>)>,
    pub source: &'a str,
    pub read_only: bool,
}

/// The instance held for the run and what to mount from it.
pub(crate) struct ProvidedCache {
    pub lease: CacheMountLease,
    pub source: MountSource,
}

/// Takes an instance (waiting for a `locked` one while the build is not cancelled) and
/// prepares it.
pub(crate) fn provide_cache(
    store: &Store,
    request: &CacheMountRequest<'_>,
    cancel: &CancelToken,
) -> Result<ProvidedCache, StepFailure> {
    let sharing = match (request.sharing, &request.from) {
        // Two overlays must never share an upper dir: seeded shared caches split instead.
        (CacheSharing::Shared, Some(_)) | (CacheSharing::Private, _) => CacheMountSharing::Private,
        (CacheSharing::Shared, None) => CacheMountSharing::Shared,
        (CacheSharing::Locked, _) => CacheMountSharing::Locked,
    };
    let lease = store
        .cache_mounts()
        .acquire(&cache_key(request), sharing, &|| !cancel.is_cancelled())?
        .ok_or(StepFailure::Sandbox(SandboxError::Cancelled))?;
    let source = match &request.from {
        None => {
            let data = ensure_dir(request, &lease.dir().join("data"), true)?;
            MountSource::HostPath { path: data }
        }
        Some((_, lowers)) => {
            let upper = ensure_dir(request, &lease.dir().join("upper"), false)?;
            let work = ensure_dir(request, &lease.dir().join("work"), false)?;
            MountSource::Layers {
                lowers: lowers.clone(),
                subpath: request.source.to_string(),
                upper: (!request.read_only).then_some((upper, work)),
            }
        }
    };
    Ok(ProvidedCache { lease, source })
}

/// A cache is named by its id, and with `from` by the seed's key and path too (as BuildKit
/// keys cache refs by id and source ref).
fn cache_key(request: &CacheMountRequest<'_>) -> Digest {
    cache_mount_key(
        request.id,
        request.from.as_ref().map(|(key, _)| (*key, request.source)),
    )
}

/// The store name of cache `id`, seeded from the result of key `from.0` at path `from.1`.
pub(crate) fn cache_mount_key(id: &str, from: Option<(&Digest, &str)>) -> Digest {
    let name = match from {
        None => format!("cache-mount\0{id}"),
        Some((key, source)) => format!("cache-mount\0{id}\0{key}\0{source}"),
    };
    Digest::of(name.as_bytes())
}

/// Creates `dir` if missing; a new content directory gets the mount's owner and mode.
fn ensure_dir(
    request: &CacheMountRequest<'_>,
    dir: &Path,
    content: bool,
) -> Result<PathBuf, MountError> {
    let fail = |source| MountError::CacheDir {
        id: request.id.to_string(),
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) if content => {
            chown(dir, Some(request.uid), Some(request.gid)).map_err(fail)?;
            let mode = std::fs::Permissions::from_mode(request.mode & 0o7777);
            std::fs::set_permissions(dir, mode).map_err(fail)?;
        }
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(e)),
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(id: &'a str, from: Option<(&'a Digest, Vec<PathBuf>)>) -> CacheMountRequest<'a> {
        CacheMountRequest {
            id,
            sharing: CacheSharing::Shared,
            uid: 1000,
            gid: 1000,
            mode: 0o750,
            from,
            source: "/",
            read_only: false,
        }
    }

    #[test]
    fn ids_and_seeds_name_caches() {
        let seed = Digest::of(b"stage");
        let other = Digest::of(b"other stage");
        assert_eq!(
            cache_key(&request("a", None)),
            cache_key(&request("a", None))
        );
        assert_ne!(
            cache_key(&request("a", None)),
            cache_key(&request("b", None))
        );
        assert_ne!(
            cache_key(&request("a", None)),
            cache_key(&request("a", Some((&seed, vec![]))))
        );
        assert_ne!(
            cache_key(&request("a", Some((&seed, vec![])))),
            cache_key(&request("a", Some((&other, vec![]))))
        );
    }

    #[test]
    fn a_new_cache_gets_the_mount_s_owner_and_mode_and_keeps_its_files() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let store = Store::open(root.path()).unwrap();
        let cancel = CancelToken::new().unwrap();
        let provided = provide_cache(&store, &request("owned", None), &cancel).unwrap();
        let MountSource::HostPath { path } = &provided.source else {
            panic!("a plain cache is a host directory");
        };
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (1000, 1000, 0o750)
        );
        std::fs::write(path.join("kept"), "x").unwrap();
        let path = path.clone();
        drop(provided);
        let again = provide_cache(&store, &request("owned", None), &cancel).unwrap();
        assert!(matches!(&again.source, MountSource::HostPath { path: p } if p == &path));
        assert!(path.join("kept").is_file());
    }
}

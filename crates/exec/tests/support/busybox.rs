//! The official busybox image's root filesystem for the host architecture, unpacked from
//! the OCI layout at /work/shared/images/busybox (or `RBUILD_BUSYBOX_LAYOUT`) into Cargo's
//! target tmpdir, once per layer digest: later runs (and concurrent test processes) reuse it.
//! Sandboxes only ever use it as a read-only lower layer.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DEFAULT_LAYOUT: &str = "/work/shared/images/busybox";

/// The unpacked root filesystem, or why it is unavailable (the caller skips).
pub fn rootfs() -> Result<&'static Path, String> {
    static ROOTFS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOTFS
        .get_or_init(unpacked_rootfs)
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

fn unpacked_rootfs() -> Result<PathBuf, String> {
    let layout = std::env::var("RBUILD_BUSYBOX_LAYOUT").unwrap_or_else(|_| DEFAULT_LAYOUT.into());
    let layout = Path::new(&layout);
    if !layout.join("index.json").exists() {
        return Err(format!("no busybox OCI layout at {}", layout.display()));
    }
    let layer = layer_blob(layout)?;
    let digest = layer
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or("odd blob name")?;
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let rootfs = cache.join(format!("busybox-{digest}"));
    if rootfs.is_dir() {
        return Ok(rootfs);
    }
    std::fs::create_dir_all(cache).map_err(|e| e.to_string())?;
    let staging = tempfile::Builder::new()
        .prefix("busybox-unpacking-")
        .tempdir_in(cache)
        .map_err(|e| e.to_string())?;
    unpack(&layer, staging.path())?;
    // Another process may have won the race; its copy is just as good.
    match std::fs::rename(staging.path(), &rootfs) {
        Ok(()) => Ok(rootfs),
        Err(_) if rootfs.is_dir() => Ok(rootfs),
        Err(e) => Err(format!("{}: {e}", rootfs.display())),
    }
}

fn unpack(layer: &Path, into: &Path) -> Result<(), String> {
    let gzip = File::open(layer).map_err(|e| format!("{}: {e}", layer.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzip));
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive
        .unpack(into)
        .map_err(|e| format!("unpacking {}: {e}", layer.display()))
}

/// The single layer of the manifest for this machine's architecture.
fn layer_blob(layout: &Path) -> Result<PathBuf, String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => return Err(format!("no busybox image for {other}")),
    };
    let mut document = read_json(&layout.join("index.json"))?;
    // Follow nested indexes down to the platform's manifest.
    loop {
        let manifests = document["manifests"]
            .as_array()
            .ok_or("index without manifests")?;
        let chosen = manifests
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .or_else(|| manifests.first())
            .ok_or("empty index")?;
        document = read_json(&blob_path(layout, &chosen["digest"])?)?;
        if document.get("layers").is_some() {
            return blob_path(layout, &document["layers"][0]["digest"]);
        }
    }
}

fn blob_path(layout: &Path, digest: &serde_json::Value) -> Result<PathBuf, String> {
    let digest = digest.as_str().ok_or("descriptor without digest")?;
    let (algorithm, hex) = digest.split_once(':').ok_or("malformed digest")?;
    Ok(layout.join("blobs").join(algorithm).join(hex))
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

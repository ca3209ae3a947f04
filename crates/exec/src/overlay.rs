//! Mounting an overlayfs from a list of layer directories onto a mountpoint.
//!
//! Layers go to the kernel one at a time through the new mount API (`fsopen("overlay")`,
//! `fsconfig` `lowerdir+` per layer, `fsmount`, `move_mount`; Linux ≥ 6.8), which lifts the
//! one-page limit of the classic option string, so deep chains mount. When the running kernel
//! lacks that API, the classic `mount(2)` option string is used; a chain that does not fit in
//! it is an error that says so. Options keep the upper dir a plain diff (no redirect or
//! metacopy xattrs, no index).
//!
//! This module does not choose mountpoints or namespaces: callers mount into a private mount
//! namespace they set up themselves.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::io::Errno;
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, FsMountFlags, FsOpenFlags,
    MountAttrFlags, MountFlags, MoveMountFlags,
};

use crate::error::{SandboxError, SetupStage};

/// Options that keep every change in the upper dir expressible as an OCI layer diff.
const DIFF_FRIENDLY_OPTIONS: [(&str, &str); 3] = [
    ("redirect_dir", "off"),
    ("index", "off"),
    ("metacopy", "off"),
];

/// The classic option string must fit in one page, terminating NUL included.
const CLASSIC_OPTIONS_LIMIT: usize = 4095;

/// The directories of one overlay mount.
pub(crate) struct OverlayLayers<'a> {
    /// Read-only layers, top-most first; never empty.
    pub(crate) lowers: Vec<&'a Path>,
    /// `(upper, work)`; `None` mounts a read-only overlay of the lowers.
    pub(crate) writable: Option<(&'a Path, &'a Path)>,
}

/// How the overlay reached the kernel (tests pin both paths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MountApi {
    /// `fsopen` + `lowerdir+` per layer.
    LayerByLayer,
    /// One `mount(2)` option string.
    Classic,
}

/// Mounts the overlay on `target`, preferring the layer-by-layer API.
pub(crate) fn mount_overlay(
    layers: &OverlayLayers<'_>,
    target: &Path,
) -> Result<MountApi, SandboxError> {
    match build_layer_by_layer(layers)? {
        Some(mount) => {
            attach(&mount, target)?;
            Ok(MountApi::LayerByLayer)
        }
        None => {
            mount_classic(layers, target)?;
            Ok(MountApi::Classic)
        }
    }
}

/// Creates a detached overlay mount; `Ok(None)` when the kernel lacks `fsopen` or
/// `lowerdir+`.
fn build_layer_by_layer(layers: &OverlayLayers<'_>) -> Result<Option<OwnedFd>, SandboxError> {
    let context = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => fd,
        Err(Errno::NOSYS | Errno::PERM) => return Ok(None),
        Err(errno) => {
            return Err(SandboxError::setup(
                SetupStage::OverlayMount,
                "overlay",
                errno.into(),
            ))
        }
    };
    for (index, lower) in layers.lowers.iter().enumerate() {
        match fsconfig_set_string(&context, "lowerdir+", *lower) {
            Ok(()) => {}
            Err(errno) => {
                let log = kernel_log(&context);
                // Kernels before 6.8 reject the parameter itself, on the very first layer.
                if index == 0 && log.iter().any(|line| line.contains("nknown parameter")) {
                    return Ok(None);
                }
                return Err(logged_error(SetupStage::OverlayLayer, lower, errno, log));
            }
        }
    }
    if let Some((upper, work)) = layers.writable {
        for (key, dir) in [("upperdir", upper), ("workdir", work)] {
            fsconfig_set_string(&context, key, dir)
                .map_err(|e| fs_error(&context, SetupStage::OverlayLayer, dir, e))?;
        }
    }
    for (key, value) in [("source", "overlay")]
        .into_iter()
        .chain(DIFF_FRIENDLY_OPTIONS)
    {
        fsconfig_set_string(&context, key, value)
            .map_err(|e| fs_error(&context, SetupStage::OverlayMount, key, e))?;
    }
    let shown = layers.writable.map_or(layers.lowers[0], |(upper, _)| upper);
    fsconfig_create(&context)
        .map_err(|e| fs_error(&context, SetupStage::OverlayMount, shown, e))?;
    fsmount(
        &context,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )
    .map(Some)
    .map_err(|e| fs_error(&context, SetupStage::OverlayMount, shown, e))
}

fn attach(mount: &OwnedFd, target: &Path) -> Result<(), SandboxError> {
    move_mount(
        mount.as_fd(),
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| SandboxError::setup(SetupStage::OverlayMount, target, e.into()))
}

fn mount_classic(layers: &OverlayLayers<'_>, target: &Path) -> Result<(), SandboxError> {
    let options = classic_options(layers);
    if options.len() > CLASSIC_OPTIONS_LIMIT {
        return Err(SandboxError::Setup {
            stage: SetupStage::OverlayMount,
            path: target.to_path_buf(),
            detail: Some(format!(
                "{} layers need {} bytes of mount options but this kernel only takes one page; \
                 Linux 6.8+ mounts them layer by layer",
                layers.lowers.len(),
                options.len()
            )),
            source: Errno::TOOBIG.into(),
        });
    }
    let options = std::ffi::CString::new(options).map_err(|_| SandboxError::InvalidSpec {
        reason: "a layer path contains a NUL byte".into(),
    })?;
    rustix::mount::mount("overlay", target, "overlay", MountFlags::empty(), &*options)
        .map_err(|e| SandboxError::setup(SetupStage::OverlayMount, target, e.into()))
}

/// `lowerdir=a:b,upperdir=u,workdir=w,...` with `\`, `:` and `,` escaped in paths.
fn classic_options(layers: &OverlayLayers<'_>) -> Vec<u8> {
    let mut options = b"lowerdir=".to_vec();
    for (index, lower) in layers.lowers.iter().enumerate() {
        if index > 0 {
            options.push(b':');
        }
        push_escaped(&mut options, lower);
    }
    if let Some((upper, work)) = layers.writable {
        options.extend_from_slice(b",upperdir=");
        push_escaped(&mut options, upper);
        options.extend_from_slice(b",workdir=");
        push_escaped(&mut options, work);
    }
    for (key, value) in DIFF_FRIENDLY_OPTIONS {
        options.extend_from_slice(format!(",{key}={value}").as_bytes());
    }
    options
}

fn push_escaped(options: &mut Vec<u8>, path: &Path) {
    for &byte in path.as_os_str().as_bytes() {
        if matches!(byte, b'\\' | b':' | b',') {
            options.push(b'\\');
        }
        options.push(byte);
    }
}

/// The messages the kernel logged on an fs context (`e overlayfs: ...` lines).
fn kernel_log(context: &OwnedFd) -> Vec<String> {
    let mut messages = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(len) = rustix::io::read(context, &mut buf) {
        if len == 0 || messages.len() >= 8 {
            break;
        }
        let text = String::from_utf8_lossy(&buf[..len]);
        messages.push(text.get(2..).unwrap_or_default().trim().to_string());
    }
    messages
}

/// An error carrying what the kernel logged on `context` about it.
fn fs_error(
    context: &OwnedFd,
    stage: SetupStage,
    path: impl AsRef<Path>,
    errno: Errno,
) -> SandboxError {
    logged_error(stage, path, errno, kernel_log(context))
}

fn logged_error(
    stage: SetupStage,
    path: impl AsRef<Path>,
    errno: Errno,
    log: Vec<String>,
) -> SandboxError {
    SandboxError::Setup {
        stage,
        path: PathBuf::from(path.as_ref()),
        detail: (!log.is_empty()).then(|| log.join("; ")),
        source: errno.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount_namespace::on_private_mount_thread;

    /// `count` layers under a long directory name, each holding `layer-<i>` and its own
    /// version of `shared`; returned top-most first.
    fn deep_layers(base: &Path, count: usize) -> Vec<PathBuf> {
        let parent = base.join("a-rather-long-directory-name-for-layers-".repeat(3));
        (0..count)
            .rev()
            .map(|i| {
                let dir = parent.join(format!("snapshot-{i:04}-{}", "x".repeat(40)));
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join(format!("layer-{i}")), "").unwrap();
                std::fs::write(dir.join("shared"), i.to_string()).unwrap();
                dir
            })
            .collect()
    }

    fn mount_and_inspect(
        lowers: &[PathBuf],
        base: &Path,
        mount: impl FnOnce(&OverlayLayers<'_>, &Path) -> Result<(), SandboxError> + Send,
    ) -> Result<(usize, String), SandboxError> {
        let (upper, work, target) = (base.join("upper"), base.join("work"), base.join("merged"));
        for dir in [&upper, &work, &target] {
            std::fs::create_dir_all(dir).unwrap();
        }
        on_private_mount_thread(|| {
            let layers = OverlayLayers {
                lowers: lowers.iter().map(PathBuf::as_path).collect(),
                writable: Some((&upper, &work)),
            };
            mount(&layers, &target)?;
            let entries = std::fs::read_dir(&target).unwrap().count();
            let shared = std::fs::read_to_string(target.join("shared")).unwrap();
            rustix::mount::unmount(&target, rustix::mount::UnmountFlags::empty()).unwrap();
            Ok((entries, shared))
        })
    }

    #[test]
    fn a_deep_chain_mounts_layer_by_layer() {
        let base = tempfile::tempdir().unwrap();
        let lowers = deep_layers(base.path(), 150);
        assert!(
            classic_options(&OverlayLayers {
                lowers: lowers.iter().map(PathBuf::as_path).collect(),
                writable: None,
            })
            .len()
                > CLASSIC_OPTIONS_LIMIT
        );
        let (entries, shared) = mount_and_inspect(&lowers, base.path(), |layers, target| {
            assert_eq!(mount_overlay(layers, target)?, MountApi::LayerByLayer);
            Ok(())
        })
        .unwrap();
        assert_eq!(entries, 151, "150 layer markers and the shared file");
        assert_eq!(shared, "149", "the top-most layer wins");
    }

    #[test]
    fn the_classic_option_string_mounts_short_chains() {
        let base = tempfile::tempdir().unwrap();
        let lowers = deep_layers(base.path(), 3);
        let (entries, shared) = mount_and_inspect(&lowers, base.path(), mount_classic).unwrap();
        assert_eq!((entries, shared.as_str()), (4, "2"));
    }

    #[test]
    fn the_classic_option_string_escapes_separators_the_kernel_way() {
        let base = tempfile::tempdir().unwrap();
        let odd = base.path().join("odd:name,with\\separators");
        let mut lowers = deep_layers(&odd, 2);
        lowers.push(odd.join("plain"));
        std::fs::create_dir_all(&lowers[2]).unwrap();
        let (entries, shared) = mount_and_inspect(&lowers, base.path(), mount_classic).unwrap();
        assert_eq!((entries, shared.as_str()), (3, "1"));
    }

    #[test]
    fn the_classic_option_string_refuses_chains_beyond_one_page() {
        let base = tempfile::tempdir().unwrap();
        let lowers = deep_layers(base.path(), 150);
        let err = mount_and_inspect(&lowers, base.path(), mount_classic).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("150 layers need"), "{text}");
        assert!(text.contains("Linux 6.8+"), "{text}");
    }

    #[test]
    fn a_missing_layer_is_named_with_the_kernel_explanation() {
        let base = tempfile::tempdir().unwrap();
        let mut lowers = deep_layers(base.path(), 2);
        lowers.insert(1, base.path().join("no-such-layer"));
        let err = mount_and_inspect(&lowers, base.path(), |l, t| mount_overlay(l, t).map(drop))
            .unwrap_err();
        let missing = base.path().join("no-such-layer");
        assert_eq!(
            err.setup_parts(),
            Some((
                SetupStage::OverlayLayer,
                missing.as_path(),
                Some(libc::ENOENT)
            )),
            "{err}"
        );
    }

    #[test]
    fn classic_options_escape_separators() {
        let a = Path::new("/l/a:b");
        let b = Path::new("/l/c,d\\e");
        let layers = OverlayLayers {
            lowers: vec![a, b],
            writable: Some((Path::new("/u"), Path::new("/w"))),
        };
        assert_eq!(
            String::from_utf8(classic_options(&layers)).unwrap(),
            "lowerdir=/l/a\\:b:/l/c\\,d\\\\e,upperdir=/u,workdir=/w,\
             redirect_dir=off,index=off,metacopy=off"
        );
    }
}

//! Private mount namespaces: entering one (mounts made afterwards are invisible to the host
//! and vanish with the namespace) and running a closure on a dedicated thread that has its
//! own.
//!
//! Thread-level `unshare(CLONE_NEWNS)` works in a multi-threaded process (it also unshares
//! the thread's cwd/root, never the file descriptor table). The dedicated thread and threads
//! it spawns see the mounts; threads that existed before do not. This module does not mount
//! anything itself beyond changing propagation.

use rustix::mount::{mount_change, MountPropagationFlags};
use rustix::thread::UnshareFlags;

use crate::error::{SandboxError, SetupStage};

/// Gives the calling thread its own mount namespace whose mounts never propagate to the host.
pub(crate) fn enter_private_mount_namespace() -> Result<(), SandboxError> {
    // SAFETY: `NEWNS` (and the `CLONE_FS` it implies) detaches only this thread's mount
    // table, root and cwd; the file descriptor table stays shared, so no thread can observe
    // descriptors from a table it does not have.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }
        .map_err(|e| SandboxError::setup(SetupStage::MountNamespace, "/", e.into()))?;
    stop_mount_propagation()
}

/// Makes every mount in the current namespace a slave: host mount events still arrive,
/// ours never leave.
pub(crate) fn stop_mount_propagation() -> Result<(), SandboxError> {
    mount_change(
        "/",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(|e| SandboxError::setup(SetupStage::MountPropagation, "/", e.into()))
}

/// Runs `work` on a new thread inside its own private mount namespace and returns its
/// result; the namespace, with everything mounted in it, is gone once this returns. A panic
/// in `work` resumes on the caller's thread.
pub(crate) fn on_private_mount_thread<T: Send>(
    work: impl FnOnce() -> Result<T, SandboxError> + Send,
) -> Result<T, SandboxError> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("rbuild-mounts".into())
            .spawn_scoped(scope, move || {
                enter_private_mount_namespace()?;
                work()
            })
            .map_err(|e| SandboxError::io("starting the private mount thread", e))?;
        handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

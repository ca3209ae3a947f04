//! A foreign RUN with its QEMU handler disabled fails with the error that says how to fix
//! it, and never runs the wrong architecture; a native build still works. It disables the
//! host's qemu-aarch64 binfmt_misc handler for the duration of the test (re-enabled on
//! drop), so it is the only test in this binary.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_success, context_copy, stderr, TestStore};

const HANDLER: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

/// Disables a binfmt_misc handler until dropped.
struct DisabledHandler;

impl DisabledHandler {
    fn new() -> DisabledHandler {
        fs::write(HANDLER, "0").expect("disable the qemu-aarch64 handler");
        DisabledHandler
    }
}

impl Drop for DisabledHandler {
    fn drop(&mut self) {
        let _ = fs::write(HANDLER, "1");
    }
}

#[test]
fn without_a_handler_a_foreign_run_fails_clearly_and_a_native_one_works() {
    require_sandbox!();
    if !Path::new(HANDLER).exists() {
        println!(
            "RBUILD-TEST-SKIPPED: {}: no qemu-aarch64 binfmt_misc handler to disable",
            module_path!()
        );
        return;
    }
    let store = TestStore::with_busybox();
    let context = context_copy("multi-arch");
    let failed = {
        let _disabled = DisabledHandler::new();
        store.build(context.path(), &["--platform", "linux/arm64"])
    };
    assert!(!failed.status.success(), "the arm64 RUN must not run");
    let text = stderr(&failed);
    assert!(
        text.contains("no binfmt_misc handler for aarch64"),
        "{text}"
    );
    assert!(
        text.contains("qemu-user-static") && text.contains("update-binfmts --enable qemu-aarch64"),
        "{text}"
    );
    assert!(
        text.contains("Dockerfile:5"),
        "the error names the RUN line: {text}"
    );

    let native = store.build(context.path(), &["--platform", "linux/amd64"]);
    assert_success(&native, "native build");
    let enabled = fs::read_to_string(HANDLER).unwrap();
    assert!(
        enabled.starts_with("enabled"),
        "the handler is back: {enabled}"
    );
}

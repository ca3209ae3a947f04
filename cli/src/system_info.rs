//! `rbuild version` and `rbuild info`: what this rbuild is, where its store lives and how
//! big it is, and the kernel features builds rely on — overlayfs, user and network
//! namespaces, the cgroup version, and binfmt_misc handlers for foreign architectures.
//!
//! It only reads; nothing here changes the machine or the store.

use std::fs;
use std::path::Path;

use anyhow::Result;
use rbuild_cache::Store;
use rbuild_oci::Platform;

use crate::images::human_size;

pub fn version() {
    println!("rbuild version {}", env!("CARGO_PKG_VERSION"));
    println!(" Platform:    {}", Platform::host());
    println!(" Store:       content-addressed (SQLite metadata, overlayfs snapshots)");
}

pub fn info(store: &Store) -> Result<()> {
    let usage = store.disk_usage()?;
    println!("Store:");
    println!(" Root:          {}", store.root().display());
    println!(" Size:          {}", human_size(usage.total()));
    println!(" Images:        {}", store.images().list()?.len());
    println!("Kernel:");
    println!(" Version:       {}", kernel_release());
    println!(" Overlayfs:     {}", yes_no(has_filesystem("overlay")));
    println!(" Cgroups:       {}", cgroup_version());
    println!(
        " User namespaces: {}",
        yes_no(Path::new("/proc/self/ns/user").exists())
    );
    println!("Platforms:");
    println!(" Native:        {}", Platform::host());
    let emulated = rbuild_exec::emulated_architectures();
    if emulated.is_empty() {
        println!(" Emulated:      none (install qemu-user-static and binfmt-support)");
    }
    for handler in emulated {
        let state = match handler.usable {
            true => "usable",
            false => "not usable: the handler lacks the F flag",
        };
        println!(
            " Emulated:      linux/{} via {} ({state})",
            handler.architecture, handler.handler
        );
    }
    Ok(())
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

fn has_filesystem(name: &str) -> bool {
    fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|line| line.split_whitespace().last() == Some(name))
}

fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "v2 (unified)"
    } else if Path::new("/sys/fs/cgroup").exists() {
        "v1"
    } else {
        "none"
    }
}

//! The network identity files every container gets: `/etc/hosts` and `/etc/hostname`
//! generated for the sandbox's hostname, `/etc/resolv.conf` from the host's: as it is on
//! the host's network, pointing at the NAT's DNS forwarder on the default network, with
//! public resolvers when the host has none usable. They are written to a small tmpfs
//! mounted (in the sandbox's private mount namespace) on a scratch directory — memory only,
//! gone with the sandbox — and bind-mounted read-only, so a step sees them but its layer
//! never contains them.
//!
//! This module only writes the files and describes their mounts; `extra_mounts` mounts them.

use std::path::Path;

use rustix::mount::MountFlags;

use crate::error::{SandboxError, SetupStage};
use crate::mount_spec::{MountSource, SandboxMount};
use crate::scratch::Scratch;
use crate::spec::NetworkMode;
use crate::user_nat::DNS_FORWARDER;

const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Resolvers used when the host's resolv.conf names none the sandbox can reach (Docker's
/// fallback).
const FALLBACK_NAMESERVERS: &str = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";

/// Writes the files onto a tmpfs in `scratch` and returns their read-only mounts. Must run
/// in a private mount namespace.
pub(crate) fn etc_mounts(
    scratch: &Scratch,
    hostname: &str,
    network: NetworkMode,
) -> Result<Vec<SandboxMount>, SandboxError> {
    let dir = scratch.dir("etc", &[])?;
    rustix::mount::mount(
        "tmpfs",
        &dir,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        c"mode=755,size=64k",
    )
    .map_err(|e| SandboxError::setup(SetupStage::EtcFiles, &dir, e.into()))?;
    let host_resolv = std::fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let files = [
        ("hosts", hosts_file(hostname)),
        ("hostname", format!("{hostname}\n")),
        ("resolv.conf", resolv_conf(&host_resolv, network)),
    ];
    let mut mounts = Vec::with_capacity(files.len());
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::write(&path, content)
            .map_err(|e| SandboxError::setup(SetupStage::EtcFiles, &path, e))?;
        mounts.push(SandboxMount {
            source: MountSource::HostPath { path },
            target: Path::new("/etc").join(name).to_string_lossy().into_owned(),
            read_only: true,
        });
    }
    Ok(mounts)
}

fn hosts_file(hostname: &str) -> String {
    format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
}

/// The host's resolv.conf for `network`. On the host's network it is kept as it is. On
/// the default network its nameservers are replaced by the NAT's DNS forwarder (which
/// relays to them, loopback ones included). Loopback resolvers only work inside the host's
/// network namespace: `none` drops them, and gets the fallback resolvers when nothing is
/// left. Search and option lines are kept.
fn resolv_conf(host: &str, network: NetworkMode) -> String {
    let mut kept = String::new();
    let mut nameservers = 0;
    if network == NetworkMode::Default {
        kept.push_str(&format!("nameserver {DNS_FORWARDER}\n"));
        nameservers += 1;
    }
    for line in host.lines() {
        let server = line
            .trim()
            .strip_prefix("nameserver")
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match (server, network) {
            (Some(_), NetworkMode::Default) => continue,
            (Some(address), NetworkMode::None) if is_loopback(address) => continue,
            (Some(_), _) => nameservers += 1,
            (None, _) => {}
        }
        kept.push_str(line);
        kept.push('\n');
    }
    if nameservers == 0 {
        kept.push_str(FALLBACK_NAMESERVERS);
    }
    kept
}

fn is_loopback(address: &str) -> bool {
    address.starts_with("127.") || address == "::1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_names_localhost_and_the_sandbox() {
        let hosts = hosts_file("rbuild");
        assert!(
            hosts.starts_with("127.0.0.1\tlocalhost rbuild\n"),
            "{hosts}"
        );
        assert!(hosts.contains("::1\tlocalhost"), "{hosts}");
    }

    #[test]
    fn resolv_conf_keeps_host_resolvers_on_the_host_network() {
        let host = "search example.org\nnameserver 127.0.0.53\noptions edns0\n";
        assert_eq!(resolv_conf(host, NetworkMode::Host), host);
    }

    #[test]
    fn the_default_network_asks_the_nat_dns_forwarder() {
        let host =
            "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, NetworkMode::Default),
            "nameserver 10.0.2.3\nsearch example.org\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("", NetworkMode::Default),
            "nameserver 10.0.2.3\n"
        );
    }

    #[test]
    fn an_isolated_network_drops_loopback_resolvers() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\n";
        assert_eq!(
            resolv_conf(host, NetworkMode::None),
            "nameserver 10.0.0.2\n"
        );
        let only_loopback = "nameserver 127.0.0.53\n";
        assert_eq!(
            resolv_conf(only_loopback, NetworkMode::None),
            FALLBACK_NAMESERVERS
        );
        assert_eq!(resolv_conf("", NetworkMode::Host), FALLBACK_NAMESERVERS);
    }
}

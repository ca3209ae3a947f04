//! Finding where the calling process's own cgroups are, as directories: the mounted
//! hierarchies come from /proc/self/mountinfo (mountpoint, the part of the hierarchy it
//! shows, cgroup v1 controllers or cgroup2), the process's place in each from
//! /proc/self/cgroup.
//!
//! Read-only: nothing is created here.

use std::path::{Path, PathBuf};

/// The hierarchy run cgroups are made in, as the directories of the caller's own cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// cgroup v1 (alone or in a hybrid layout): one directory per controller we use.
    V1 {
        memory: Option<PathBuf>,
        pids: Option<PathBuf>,
    },
    /// The unified cgroup v2 hierarchy.
    V2 { parent: PathBuf },
}

/// Detects the hierarchy from this process's view of the system.
pub(crate) fn detect() -> Option<Hierarchy> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    choose(&mountinfo, &membership)
}

/// Prefers v1 `memory`/`pids` controllers when mounted (in a hybrid layout the v2 tree
/// has no controllers), the v2 hierarchy otherwise.
fn choose(mountinfo: &str, membership: &str) -> Option<Hierarchy> {
    let mounts: Vec<CgroupMount> = mountinfo.lines().filter_map(CgroupMount::parse).collect();
    let v1_dir = |controller: &str| {
        let mount = mounts
            .iter()
            .find(|m| !m.unified && m.controllers.iter().any(|c| c == controller))?;
        let own = own_path(membership, |controllers| {
            controllers.split(',').any(|c| c == controller)
        })?;
        mount.dir_for(&own)
    };
    let (memory, pids) = (v1_dir("memory"), v1_dir("pids"));
    if memory.is_some() || pids.is_some() {
        return Some(Hierarchy::V1 { memory, pids });
    }
    let unified = mounts.iter().find(|m| m.unified)?;
    let own = own_path(membership, str::is_empty)?;
    Some(Hierarchy::V2 {
        parent: unified.dir_for(&own)?,
    })
}

/// The path in /proc/self/cgroup (`id:controllers:path`) whose controller list matches.
fn own_path(membership: &str, matches: impl Fn(&str) -> bool) -> Option<String> {
    membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        matches(controllers).then(|| path.to_string())
    })
}

/// A cgroup filesystem mount.
struct CgroupMount {
    /// The part of the hierarchy the mount shows.
    root: String,
    mountpoint: PathBuf,
    unified: bool,
    controllers: Vec<String>,
}

impl CgroupMount {
    /// Reads one mountinfo line: `id parent dev root mountpoint opts ... - fstype source
    /// superopts`.
    fn parse(line: &str) -> Option<CgroupMount> {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let mut after = after.split(' ');
        let fstype = after.next()?;
        let _source = after.next()?;
        let superopts = after.next().unwrap_or("");
        let unified = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => return None,
        };
        Some(CgroupMount {
            root: unescape(fields.get(3)?),
            mountpoint: PathBuf::from(unescape(fields.get(4)?)),
            unified,
            controllers: superopts.split(',').map(str::to_string).collect(),
        })
    }

    /// Where cgroup `own` (a hierarchy path) appears under this mount, if it does.
    fn dir_for(&self, own: &str) -> Option<PathBuf> {
        let relative = Path::new(own).strip_prefix(&self.root).ok()?;
        Some(self.mountpoint.join(relative))
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(index) = rest.find('\\') {
        out.push_str(&rest[..index]);
        let code = rest.get(index + 1..index + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(byte as char);
                rest = &rest[index + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[index + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_MEMBERSHIP: &str = "8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n";

    #[test]
    fn hybrid_layouts_use_the_v1_controllers_below_our_own_cgroup() {
        assert_eq!(
            choose(HYBRID_MOUNTS, HYBRID_MEMBERSHIP),
            Some(Hierarchy::V1 {
                memory: Some("/sys/fs/cgroup/memory/process_api/abc".into()),
                pids: Some("/sys/fs/cgroup/pids/".into()),
            })
        );
    }

    #[test]
    fn unified_layouts_use_the_v2_tree() {
        let mounts = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            choose(mounts, "0::/user.slice/session-1.scope\n"),
            Some(Hierarchy::V2 {
                parent: "/sys/fs/cgroup/user.slice/session-1.scope".into()
            })
        );
    }

    #[test]
    fn a_mount_showing_part_of_the_hierarchy_is_mapped() {
        let mounts = "30 23 0:27 /docker/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            choose(mounts, "0::/docker/x/build\n"),
            Some(Hierarchy::V2 {
                parent: "/sys/fs/cgroup/build".into()
            })
        );
        assert_eq!(choose(mounts, "0::/elsewhere\n"), None);
        assert_eq!(choose("", "0::/\n"), None);
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
    }
}

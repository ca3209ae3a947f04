//! Resolving a `USER` string to numeric ids inside a root filesystem, with Docker's rules
//! (moby/sys/user `GetExecUser`): `""`/`root` → 0:0; `name`, `uid`, `name:group`,
//! `uid:gid`, `name:gid`, `uid:group`; a uid without a passwd entry is allowed (gid 0); a
//! name that does not exist is an error; supplementary groups come from `/etc/group`
//! membership when no group is given explicitly.
//!
//! `/etc/passwd` and `/etc/group` are opened with `openat2(RESOLVE_IN_ROOT)`, so symlinks in
//! an image resolve inside the image and never reach host files. This module does not switch
//! credentials; the init does that with the `Account` it gets from here.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::error::{SandboxError, SetupStage};
use crate::user_db::{parse_group, parse_passwd, GroupEntry, PasswdEntry};

/// Numeric credentials a process or a file owner gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from `/etc/group` membership, in file order.
    pub additional_gids: Vec<u32>,
}

/// An identity plus the home directory the passwd entry gives it (used for `HOME`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) identity: Identity,
    pub(crate) home: String,
}

/// The largest user database we read; anything bigger is not a real passwd file.
const MAX_USER_DB_BYTES: u64 = 16 << 20;

/// The largest id Docker accepts (ids are signed 32-bit in its runtime).
const MAX_ID: u64 = i32::MAX as u64;

/// Resolves `user` inside the root filesystem at `root`, as the sandbox init does.
pub fn resolve_user(root: &Path, user: &str) -> Result<Identity, SandboxError> {
    resolve_account(root, user).map(|account| account.identity)
}

pub(crate) fn resolve_account(root: &Path, user: &str) -> Result<Account, SandboxError> {
    let root_dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SandboxError::setup(SetupStage::UserDatabase, root, e.into()))?;
    let passwd = read_in_root(&root_dir, root, "etc/passwd")?;
    let group = read_in_root(&root_dir, root, "etc/group")?;
    account_for(
        user,
        passwd.as_deref().map(parse_passwd).as_deref(),
        group.as_deref().map(parse_group).as_deref(),
    )
}

/// Reads `rel_path` below `root_dir` as if `root_dir` were `/`. `None` when it is missing.
fn read_in_root(
    root_dir: &OwnedFd,
    root: &Path,
    rel_path: &str,
) -> Result<Option<String>, SandboxError> {
    let shown = root.join(rel_path);
    let fail = |errno: Errno, detail: Option<&str>| SandboxError::Setup {
        stage: SetupStage::UserDatabase,
        path: shown.clone(),
        detail: detail.map(String::from),
        source: errno.into(),
    };
    let fd = match rustix::fs::openat2(
        root_dir,
        rel_path,
        // NONBLOCK: a FIFO planted at /etc/passwd must not hang the build.
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(None),
        Err(errno) => return Err(fail(errno, None)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| fail(e, None))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(fail(Errno::INVAL, Some("not a regular file")));
    }
    if stat.st_size as u64 > MAX_USER_DB_BYTES {
        return Err(fail(Errno::FBIG, Some("larger than 16 MiB")));
    }
    let mut bytes = Vec::new();
    File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(Errno::from_io_error(&e).unwrap_or(Errno::IO), None))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// A numeric id as Docker accepts it; `Err` when it is a number out of range, `Ok(None)`
/// when it is not a number at all (then it is a name).
fn numeric_id(text: &str, user: &str) -> Result<Option<u32>, SandboxError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match text.parse::<u64>() {
        Ok(id) if id <= MAX_ID => Ok(Some(id as u32)),
        _ => Err(SandboxError::InvalidUser {
            user: user.to_string(),
            reason: format!("id {text} is out of range (0-{MAX_ID})"),
        }),
    }
}

/// Applies `USER` semantics to parsed databases (`None` = the file does not exist).
fn account_for(
    user: &str,
    passwd: Option<&[PasswdEntry]>,
    groups: Option<&[GroupEntry]>,
) -> Result<Account, SandboxError> {
    let (user_part, group_part) = user.split_once(':').unwrap_or((user, ""));
    let uid_arg = numeric_id(user_part, user)?;
    let entry = passwd.unwrap_or_default().iter().find(|e| match uid_arg {
        Some(uid) => e.uid == uid,
        None if user_part.is_empty() => e.uid == 0,
        None => e.name == user_part,
    });
    let (mut identity, home, member_name) = match (entry, uid_arg) {
        (Some(e), _) => (ids(e.uid, e.gid), e.home.clone(), Some(e.name.as_str())),
        (None, Some(uid)) => (ids(uid, 0), String::new(), None),
        (None, None) if user_part.is_empty() || user_part == "root" => {
            (ids(0, 0), String::new(), None)
        }
        (None, None) => {
            return Err(SandboxError::UnknownUser {
                user: user_part.to_string(),
            })
        }
    };
    let groups = groups.unwrap_or_default();
    if !group_part.is_empty() {
        identity.gid = explicit_gid(group_part, groups, user)?;
    } else if let Some(name) = member_name {
        identity.additional_gids = groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
            .map(|g| g.gid)
            .collect();
    }
    let home = if home.is_empty() { "/".into() } else { home };
    Ok(Account { identity, home })
}

fn ids(uid: u32, gid: u32) -> Identity {
    Identity {
        uid,
        gid,
        additional_gids: Vec::new(),
    }
}

fn explicit_gid(group: &str, groups: &[GroupEntry], user: &str) -> Result<u32, SandboxError> {
    let gid_arg = numeric_id(group, user)?;
    let found = groups.iter().find(|g| match gid_arg {
        Some(gid) => g.gid == gid,
        None => g.name == group,
    });
    match (found, gid_arg) {
        (Some(g), _) => Ok(g.gid),
        (None, Some(gid)) => Ok(gid),
        (None, None) if group == "root" => Ok(0),
        (None, None) => Err(SandboxError::UnknownGroup {
            group: group.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
        nobody:x:65534:65534:nobody:/home:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root\nalice:x:1000:\n\
        audio:x:29:alice\nvideo:x:28:bob,alice\nstaff:x:50:\n";

    fn resolve(user: &str) -> Result<Account, SandboxError> {
        let passwd = parse_passwd(PASSWD);
        let group = parse_group(GROUP);
        account_for(user, Some(&passwd), Some(&group))
    }

    fn triple(user: &str) -> (u32, u32, Vec<u32>) {
        let id = resolve(user).unwrap().identity;
        (id.uid, id.gid, id.additional_gids)
    }

    #[test]
    fn every_user_form_docker_accepts() {
        assert_eq!(triple(""), (0, 0, vec![10]));
        assert_eq!(triple("root"), (0, 0, vec![10]));
        assert_eq!(triple("alice"), (1000, 1000, vec![29, 28]));
        assert_eq!(triple("1000"), (1000, 1000, vec![29, 28]));
        assert_eq!(triple("alice:staff"), (1000, 50, vec![]));
        assert_eq!(triple("alice:50"), (1000, 50, vec![]));
        assert_eq!(triple("1000:29"), (1000, 29, vec![]));
        assert_eq!(triple("1000:staff"), (1000, 50, vec![]));
        assert_eq!(triple("1000:4242"), (1000, 4242, vec![]));
        assert_eq!(triple("4242"), (4242, 0, vec![]));
        assert_eq!(triple("4242:4343"), (4242, 4343, vec![]));
    }

    #[test]
    fn home_comes_from_passwd_or_defaults_to_root_dir() {
        assert_eq!(resolve("alice").unwrap().home, "/home/alice");
        assert_eq!(resolve("4242").unwrap().home, "/");
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let err = resolve("mallory").unwrap_err();
        assert!(matches!(&err, SandboxError::UnknownUser { user } if user == "mallory"));
        assert_eq!(
            err.to_string(),
            "unable to find user mallory: no matching entries in passwd file"
        );
        let err = resolve("alice:nogroup").unwrap_err();
        assert!(matches!(err, SandboxError::UnknownGroup { group } if group == "nogroup"));
        assert!(matches!(
            resolve("99999999999"),
            Err(SandboxError::InvalidUser { .. })
        ));
    }

    #[test]
    fn without_databases_only_root_and_numbers_resolve() {
        let bare = |user| account_for(user, None, None);
        assert_eq!(bare("").unwrap().identity, ids(0, 0));
        assert_eq!(bare("root").unwrap().identity, ids(0, 0));
        assert_eq!(bare("root:root").unwrap().identity, ids(0, 0));
        assert_eq!(bare("12:34").unwrap().identity, ids(12, 34));
        assert!(matches!(
            bare("alice"),
            Err(SandboxError::UnknownUser { .. })
        ));
    }

    fn write_root(passwd: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(root.path().join("etc/group"), "app:x:500:builder\n").unwrap();
        root
    }

    #[test]
    fn reads_the_databases_of_the_given_root() {
        let root = write_root("builder:x:500:500::/work:/bin/sh\n");
        let id = resolve_user(root.path(), "builder").unwrap();
        assert_eq!((id.uid, id.gid, id.additional_gids), (500, 500, vec![500]));
    }

    fn relink(link: &Path, target: &str) {
        std::fs::remove_file(link).unwrap();
        std::os::unix::fs::symlink(target, link).unwrap();
    }

    #[test]
    fn symlinks_resolve_inside_the_root_never_on_the_host() {
        let root = write_root("");
        let etc = root.path().join("etc");
        let passwd = etc.join("passwd");
        // The host has /etc/hostname too; followed naively, the link would read it and find
        // no "imagebuilder".
        std::fs::write(etc.join("hostname"), "imagebuilder:x:777:778::/:/bin/sh\n").unwrap();
        relink(&passwd, "/etc/hostname");
        assert_eq!(resolve_user(root.path(), "imagebuilder").unwrap().uid, 777);
        relink(&passwd, "../../../../../../etc/hostname");
        assert_eq!(resolve_user(root.path(), "imagebuilder").unwrap().uid, 777);

        // /etc/passwd -> /etc/passwd: a loop inside the root, never the host's user list.
        relink(&passwd, "/etc/passwd");
        let err = resolve_user(root.path(), "root").unwrap_err();
        assert!(
            matches!(&err, SandboxError::Setup { source, .. } if source.raw_os_error() == Some(libc::ELOOP)),
            "{err}"
        );
    }

    #[test]
    fn a_missing_database_only_allows_root_and_numbers() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(resolve_user(root.path(), "").unwrap(), ids(0, 0));
        assert_eq!(resolve_user(root.path(), "55").unwrap(), ids(55, 0));
        assert!(resolve_user(root.path(), "daemon").is_err());
    }

    #[test]
    fn a_directory_in_place_of_passwd_is_a_clear_error() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/passwd")).unwrap();
        let text = resolve_user(root.path(), "root").unwrap_err().to_string();
        assert!(text.contains("not a regular file"), "{text}");
        assert!(text.contains("etc/passwd"), "{text}");
    }
}

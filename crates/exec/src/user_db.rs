//! Parsing of `/etc/passwd` and `/etc/group` text as Docker reads it (moby/sys/user): one
//! entry per line, `:`-separated fields, blank and `#` lines skipped. A line whose ids are not
//! numbers is skipped rather than read as id 0.
//!
//! This module only parses text; finding the files inside a root filesystem and applying
//! `USER` semantics is `identity`'s job.

/// One `/etc/passwd` entry: `name:password:uid:gid:gecos:home:shell`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PasswdEntry {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) home: String,
}

/// One `/etc/group` entry: `name:password:gid:member,member`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub(crate) name: String,
    pub(crate) gid: u32,
    pub(crate) members: Vec<String>,
}

fn entry_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').collect())
}

pub(crate) fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    entry_lines(text)
        .filter_map(|fields| {
            Some(PasswdEntry {
                name: fields.first()?.to_string(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
                home: fields
                    .get(5)
                    .map_or_else(String::new, |home| home.to_string()),
            })
        })
        .collect()
}

pub(crate) fn parse_group(text: &str) -> Vec<GroupEntry> {
    entry_lines(text)
        .filter_map(|fields| {
            Some(GroupEntry {
                name: fields.first()?.to_string(),
                gid: fields.get(2)?.parse().ok()?,
                members: fields
                    .get(3)
                    .map(|list| {
                        list.split(',')
                            .map(str::trim)
                            .filter(|member| !member.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_entries_keep_ids_and_home() {
        let text = "root:x:0:0:root:/root:/bin/sh\n\n# comment\n  nobody:x:65534:65534:nobody:/home:/bin/false  \n";
        let entries = parse_passwd(text);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[1],
            PasswdEntry {
                name: "nobody".into(),
                uid: 65534,
                gid: 65534,
                home: "/home".into()
            }
        );
    }

    #[test]
    fn malformed_passwd_lines_are_skipped_not_read_as_root() {
        let entries = parse_passwd("evil:x:notanumber:0::/:/bin/sh\nshort:x:5\nok:x:7:8\n");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "ok");
        assert_eq!(entries[0].home, "");
    }

    #[test]
    fn group_members_are_split_and_trimmed() {
        let groups = parse_group("wheel:x:10:root, alice,\nempty:x:11:\nnolist:x:12\n");
        assert_eq!(groups[0].members, vec!["root", "alice"]);
        assert!(groups[1].members.is_empty());
        assert!(groups[2].members.is_empty());
        assert_eq!(groups[2].gid, 12);
    }
}

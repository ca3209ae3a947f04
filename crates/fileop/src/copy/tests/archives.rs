//! ADD's archive unpacking: every supported compression, metadata from the archive, files
//! that only look like archives, and entries that try to escape.

use std::io::Write;

use super::*;

/// A tar with `pkg/` (0750, uid 33), `pkg/data.txt` (0640, mtime 1234567890, an xattr) and
/// `pkg/latest -> data.txt`.
fn sample_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o750);
    dir.set_uid(33);
    dir.set_gid(33);
    dir.set_size(0);
    builder
        .append_data(&mut dir, "pkg/", std::io::empty())
        .unwrap();
    builder
        .append_pax_extensions([("SCHILY.xattr.user.origin", &b"tarball"[..])])
        .unwrap();
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o640);
    file.set_uid(33);
    file.set_gid(34);
    file.set_mtime(1_234_567_890);
    file.set_size(5);
    builder
        .append_data(&mut file, "pkg/data.txt", &b"data\n"[..])
        .unwrap();
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder
        .append_link(&mut link, "pkg/latest", "data.txt")
        .unwrap();
    builder.into_inner().unwrap()
}

fn compress(kind: &str, bytes: &[u8]) -> Vec<u8> {
    match kind {
        "tar" => bytes.to_vec(),
        "tar.gz" => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        "tar.bz2" => {
            let mut encoder =
                bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        "tar.xz" => {
            let mut encoder = liblzma::write::XzEncoder::new(Vec::new(), 6);
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        }
        other => panic!("unknown kind {other}"),
    }
}

fn add(
    archive_name: &str,
    bytes: &[u8],
    dest: &str,
    owner: Option<(u32, u32)>,
) -> (tempfile::TempDir, Result<(), CopyError>) {
    let ctx = tempfile::tempdir().unwrap();
    fs::write(ctx.path().join(archive_name), bytes).unwrap();
    let rootfs = tempfile::tempdir().unwrap();
    let opts = CopyOptions {
        unpack_archives: true,
        owner,
        ..CopyOptions::default()
    };
    let result = copy_into_root(
        rootfs.path(),
        dest,
        &select(ctx.path(), &[archive_name], &[]),
        &opts,
    );
    (rootfs, result)
}

#[test]
fn every_supported_compression_is_unpacked() {
    for kind in ["tar", "tar.gz", "tar.bz2", "tar.xz"] {
        let name = format!("sample.{kind}");
        let (rootfs, result) = add(&name, &compress(kind, &sample_tar()), "/srv", None);
        result.unwrap_or_else(|err| panic!("{kind}: {err}"));
        let pkg = rootfs.path().join("srv/pkg");
        assert_eq!(text(pkg.join("data.txt")), "data\n", "{kind}");
        assert!(
            !rootfs.path().join("srv").join(&name).exists(),
            "{kind} was copied, not unpacked"
        );
    }
}

#[test]
fn unpacked_entries_keep_archive_metadata_unless_chowned() {
    let (rootfs, result) = add("sample.tar", &sample_tar(), "/srv/", None);
    result.unwrap();
    let pkg = rootfs.path().join("srv/pkg");
    assert_eq!((mode(&pkg), owner(&pkg)), (0o750, (33, 33)));
    assert_eq!(
        (mode(pkg.join("data.txt")), owner(pkg.join("data.txt"))),
        (0o640, (33, 34))
    );
    assert_eq!(
        fs::metadata(pkg.join("data.txt")).unwrap().mtime(),
        1_234_567_890
    );
    assert_eq!(
        fs::read_link(pkg.join("latest")).unwrap(),
        Path::new("data.txt")
    );
    assert_eq!(
        xattr::get(pkg.join("data.txt"), "user.origin")
            .unwrap()
            .as_deref(),
        Some(&b"tarball"[..])
    );

    let (chowned, result) = add("sample.tar", &sample_tar(), "/srv/", Some((5, 6)));
    result.unwrap();
    assert_eq!(owner(chowned.path().join("srv/pkg/data.txt")), (5, 6));
}

#[test]
fn files_that_are_not_tar_archives_are_copied() {
    let gzip_text = compress("tar.gz", b"just some text, not a tar archive");
    let (rootfs, result) = add("notes.gz", &gzip_text, "/d/", None);
    result.unwrap();
    assert_eq!(
        fs::read(rootfs.path().join("d/notes.gz")).unwrap(),
        gzip_text
    );
    let (rootfs, result) = add("plain.txt", b"plain", "/d/", None);
    result.unwrap();
    assert_eq!(text(rootfs.path().join("d/plain.txt")), "plain");
}

/// A tar holding one entry whose name (or link target) the tar crate would refuse to write.
fn raw_tar(kind: tar::EntryType, name: &[u8], link: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(0);
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[0; 1024]);
    bytes
}

#[test]
fn escaping_entries_are_rejected() {
    let cases = [
        (
            "dot-dot path",
            raw_tar(tar::EntryType::Regular, b"../../evil", b""),
        ),
        (
            "hard link out",
            raw_tar(tar::EntryType::Link, b"hard", b"../outside"),
        ),
    ];
    for (what, archive) in cases {
        let (rootfs, result) = add("evil.tar", &archive, "/x/", None);
        let err = result.expect_err(what);
        assert!(
            matches!(err, CopyError::UnsafeArchiveEntry { .. }),
            "{what}: {err}"
        );
        assert!(!rootfs.path().join("evil").exists(), "{what}");
    }
    for (name, link) in [("abs", "/etc/passwd"), ("up", "../../../etc/shadow")] {
        let (rootfs, result) = add(
            "links.tar",
            &raw_tar(tar::EntryType::Symlink, name.as_bytes(), link.as_bytes()),
            "/x/",
            None,
        );
        result.unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            fs::read_link(rootfs.path().join("x").join(name)).unwrap(),
            Path::new(link),
            "a symlink pointing outside is extracted as written"
        );
    }
}

//! Hostile image archives: OCI layouts and docker archives whose layers climb out, lie
//! about their digests or diff ids, or whose documents are garbage.

use std::fs;
use std::os::unix::fs::symlink as make_symlink;

use super::case::*;
use super::*;

pub fn archive_cases() -> Vec<Case> {
    vec![
        ("layer entry climbing out", |p| {
            load_layer(p, &[file("../../escape", "x")], Fails("layer 1"))
        }),
        ("layer entry with an absolute name", |p| {
            let name = outside_name(p, "pwned");
            load_layer(
                p,
                &[file(&name, "x")],
                Fails("absolute paths are not allowed"),
            )
        }),
        ("hardlink climbing out", |p| {
            load_layer(
                p,
                &[hardlink("h", "../../../outside/victim")],
                Fails("hardlink target is outside"),
            )
        }),
        ("hardlink to an absolute path", |p| {
            let victim = outside_name(p, "victim");
            load_layer(p, &[hardlink("h", &victim)], Fails("\"h\""))
        }),
        ("hardlink to a later entry", |p| {
            load_layer(
                p,
                &[hardlink("h", "later"), file("later", "x")],
                Fails("not earlier in the layer"),
            )
        }),
        ("write through a symlink", |p| {
            let outside = path(&p.outside);
            load_layer(
                p,
                &[symlink("up", &outside), file("up/pwned", "x")],
                Fails("symlink"),
            )
        }),
        ("long name climbing out", |p| {
            let name = format!("{}/../../../../{}", "a/".repeat(60), "x".repeat(20));
            load_layer(p, &[file(&name, "x")], Fails("escape the layer root"))
        }),
        ("malformed whiteout", |p| {
            load_layer(p, &[file("a/.wh..", "")], Fails("malformed whiteout"))
        }),
        ("wrong diff id", |p| {
            let layout = p.case.join("layout");
            oci_layout(
                &layout,
                &[layer(&[file("a", "a")])],
                Some(vec![sha(b"not it")]),
            );
            load(p, &layout, Fails("digest mismatch"))
        }),
        ("blob that is not its digest", |p| {
            let layout = p.case.join("layout");
            // Content no earlier case stored: the store cannot already hold the real blob.
            let bytes = layer(&[file("only-in-this-case", "a")]);
            oci_layout(&layout, std::slice::from_ref(&bytes), None);
            let blob = layout.join("blobs/sha256").join(&sha(&bytes)[7..]);
            fs::write(blob, layer(&[file("b", "b")])).unwrap();
            load(p, &layout, Fails("digest"))
        }),
        ("truncated layer", |p| {
            let layout = p.case.join("layout");
            let mut bytes = layer(&[file("big", &"x".repeat(5000))]);
            bytes.truncate(1024);
            oci_layout(&layout, &[bytes], None);
            load(p, &layout, Fails("layer 1"))
        }),
        ("index that names itself", |p| {
            let layout = p.case.join("layout");
            fs::create_dir_all(&layout).unwrap();
            // An index pointing at a second index pointing at the first, by digest.
            let inner = blob(
                &layout,
                "application/vnd.oci.image.index.v1+json",
                br#"{"schemaVersion":2,"manifests":[]}"#,
            );
            let outer =
                serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [inner]}))
                    .unwrap();
            let outer = blob(&layout, "application/vnd.oci.image.index.v1+json", &outer);
            write_index(&layout, vec![outer.clone(), outer]);
            load(p, &layout, Either)
        }),
        ("index.json that is not JSON", |p| {
            let layout = p.case.join("layout");
            write_index(&layout, vec![]);
            fs::write(layout.join("index.json"), b"{\"manifests\": [").unwrap();
            load(p, &layout, Fails("index.json"))
        }),
        ("manifest that is not JSON", |p| {
            let layout = p.case.join("layout");
            let garbage = blob(
                &layout,
                "application/vnd.oci.image.manifest.v1+json",
                b"\xff\x00garbage",
            );
            write_index(&layout, vec![garbage]);
            load(p, &layout, Fails("manifest"))
        }),
        ("blob path that is a symlink out", |p| {
            let layout = p.case.join("layout");
            let bytes = layer(&[file("only-in-the-symlink-case", "a")]);
            oci_layout(&layout, std::slice::from_ref(&bytes), None);
            let blob = layout.join("blobs/sha256").join(&sha(&bytes)[7..]);
            fs::remove_file(&blob).unwrap();
            make_symlink(p.outside.join("victim"), &blob).unwrap();
            load(p, &layout, Fails("digest"))
        }),
        ("docker archive layer climbing out", |p| {
            let archive = p.case.join("image.tar");
            fs::create_dir_all(&p.case).unwrap();
            docker_archive(&archive, &[layer(&[file("../x", "x")])], None, None);
            load(p, &archive, Fails("layer 1"))
        }),
        ("docker archive naming a layer outside", |p| {
            let archive = p.case.join("image.tar");
            fs::create_dir_all(&p.case).unwrap();
            docker_archive(
                &archive,
                &[layer(&[file("a", "a")])],
                Some(vec!["../../outside/victim".into()]),
                None,
            );
            load(p, &archive, Fails("cannot load"))
        }),
        ("docker archive with a wrong diff id", |p| {
            let archive = p.case.join("image.tar");
            fs::create_dir_all(&p.case).unwrap();
            docker_archive(
                &archive,
                &[layer(&[file("a", "a")])],
                None,
                Some(vec![sha(b"other")]),
            );
            load(p, &archive, Fails("cannot load"))
        }),
        ("an ordinary awkward layer loads and builds", |p| {
            let layout = p.case.join("layout");
            let base = crate::common::busybox_layout();
            let _ = base;
            oci_layout(
                &layout,
                &[layer(&[
                    dir("etc/"),
                    file("etc/a", "a"),
                    hardlink("etc/b", "etc/a"),
                    symlink("bin", "/usr/bin"),
                    dir("bin/"),
                    file("bin/x", "x"),
                ])],
                None,
            );
            load(p, &layout, Succeeds)
        }),
        ("a stray whiteout exports cleanly", |p| {
            let layout = p.case.join("layout");
            oci_layout(
                &layout,
                &[layer(&[
                    dir("etc/"),
                    file("etc/keep", "k"),
                    file(".wh.nothing", ""),
                    file("etc/.wh.gone", ""),
                ])],
                None,
            );
            let mut steps = load(p, &layout, Succeeds);
            fs::write(p.case.join("Dockerfile"), "FROM hostile:1\n").unwrap();
            let dest = format!("type=local,dest={}", path(&p.out));
            steps.push((
                args(&["build", "--progress", "plain", "-o", &dest, &path(&p.case)]),
                Succeeds,
            ));
            steps
        }),
    ]
}

//! Hostile input, table-driven: archives, layouts, docker archives, cache directories,
//! contexts and Dockerfiles made by the tests themselves. After every case: nothing outside
//! the case's own output changed, rbuild exited normally (no signal, no panic), the error
//! (when one is expected) says what it should, and `rbuild cache check` finds the store clean.

mod common;
mod hostile;

use std::fs;
use std::os::unix::fs::symlink as make_symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::{stderr, stdout, TestStore};
use hostile::archive_cases::archive_cases;
use hostile::case::*;
use hostile::*;

fn nested(depth: usize) -> String {
    format!("{}x{}", "${a:-".repeat(depth), "}".repeat(depth))
}

/// Nine ARG lines each four times the last: gigabytes without a bound.
fn doubling_args() -> String {
    let mut text = String::from(
        "FROM busybox\nARG a0=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
    );
    for n in 1..10 {
        let p = n - 1;
        text.push_str(&format!("ARG a{n}=$a{p}$a{p}$a{p}$a{p}\n"));
    }
    text.push_str("RUN true\n");
    text
}

/// A directory chain `d/d/…` `depth` deep under `root` with a file at the bottom, made
/// without recursion.
fn deep_dirs(root: &Path, depth: usize) {
    let mut dir = root.to_path_buf();
    for _ in 0..depth {
        dir.push("d");
    }
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("f"), "bottom").unwrap();
}

fn dockerfile_cases() -> Vec<Case> {
    vec![
        ("env nested 9000 deep", |p| {
            let df = format!("FROM busybox\nENV X={}\n", nested(9000));
            build(p, df.as_bytes(), &[], Fails("Dockerfile:2"))
        }),
        ("arg nested 9000 deep", |p| {
            let df = format!("ARG X={}\nFROM busybox\n", nested(9000));
            build(p, df.as_bytes(), &[], Fails("nested more than 100 deep"))
        }),
        ("copy source nested 9000 deep", |p| {
            let df = format!("FROM busybox\nCOPY {} /x\n", nested(9000));
            build(p, df.as_bytes(), &[], Fails("Dockerfile:2"))
        }),
        ("workdir nested 9000 deep", |p| {
            let df = format!("FROM busybox\nWORKDIR /{}\n", nested(9000));
            build(p, df.as_bytes(), &[], Fails("nested more than 100 deep"))
        }),
        ("run mount flag nested 9000 deep", |p| {
            let df = format!(
                "FROM busybox\nRUN --mount=type=tmpfs,target=/{} true\n",
                nested(9000)
            );
            build(p, df.as_bytes(), &[], Fails("Dockerfile:2"))
        }),
        ("nesting 90 deep is fine", |p| {
            let df = format!("FROM busybox\nENV X={}\nRUN test \"$X\" = x\n", nested(90));
            build(p, df.as_bytes(), &[], Succeeds)
        }),
        ("args doubling into gigabytes", |p| {
            build(
                p,
                doubling_args().as_bytes(),
                &[],
                Fails("longer than 1 MiB"),
            )
        }),
        ("env doubling names the line", |p| {
            let mut df =
                String::from("FROM busybox\nENV a=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
            for _ in 0..14 {
                df.push_str("ENV a=$a$a$a$a\n");
            }
            build(p, df.as_bytes(), &[], Fails("Dockerfile:1"))
        }),
        ("replacement blow-up", |p| {
            let df = format!(
                "FROM busybox\nARG v={}\nENV w=${{v//?/$v}}\n",
                "y".repeat(4096)
            );
            build(p, df.as_bytes(), &[], Fails("longer than 1 MiB"))
        }),
        ("non-UTF-8 in a comment", |p| {
            build(
                p,
                b"FROM busybox\n# caf\xe9 \xff\xfe\nRUN true\n",
                &[],
                Succeeds,
            )
        }),
        ("non-UTF-8 in an instruction", |p| {
            build(
                p,
                b"FROM busybox\n# fine\nRUN echo \xe9\n",
                &[],
                Fails("line 3 is not valid UTF-8"),
            )
        }),
        ("copy --from a stage without the file", |p| {
            let df = b"FROM busybox AS s\nFROM busybox\nCOPY --from=s /missing /x\n";
            build(p, df, &[], Fails("\"/missing\": not found in stage s"))
        }),
        ("NUL bytes in the Dockerfile", |p| {
            build(p, b"FROM busybox\nRUN echo \0\0\n", &[], Either)
        }),
        ("a 2 MiB line", |p| {
            let df = format!("FROM busybox\nLABEL a={}\n", "z".repeat(2 << 20));
            build(p, df.as_bytes(), &[], Either)
        }),
        ("unterminated heredoc", |p| {
            build(
                p,
                b"FROM busybox\nRUN <<EOF\necho never ends\n",
                &[],
                Either,
            )
        }),
        ("JSON nested 10000 deep", |p| {
            let df = format!(
                "FROM busybox\nCMD {}{}\n",
                "[".repeat(10000),
                "]".repeat(10000)
            );
            build(p, df.as_bytes(), &[], Either)
        }),
        ("copy climbing out of the context", |p| {
            build(
                p,
                b"FROM busybox\nCOPY ../../../../etc/passwd /x\n",
                &[],
                Fails("not found"),
            )
        }),
        ("run creates a .wh. file", |p| {
            build(
                p,
                b"FROM busybox\nRUN touch /.wh.bin\n",
                &[],
                Fails("reserved for whiteouts"),
            )
        }),
        ("run makes a tree 1200 deep, exported", |p| {
            let mut steps = build(
                p,
                b"FROM busybox\nRUN cd / && for i in $(seq 1200); do mkdir e; cd e; done; touch z\n",
                &[],
                Succeeds,
            );
            steps[0].0.splice(
                1..1,
                args(&["-o", &format!("type=local,dest={}", path(&p.out))]),
            );
            steps
        }),
    ]
}

fn context_cases() -> Vec<Case> {
    vec![
        ("context 1000 directories deep", |p| {
            deep_dirs(&p.case, 1000);
            build(
                p,
                b"FROM busybox\nCOPY d /d\n",
                &[],
                Fails("nest more than 256 deep"),
            )
        }),
        ("context 250 directories deep", |p| {
            deep_dirs(&p.case, 250);
            build(
                p,
                b"FROM busybox\nCOPY d /d\nRUN test -f /d/$(printf 'd/%.0s' $(seq 249))f\n",
                &[],
                Succeeds,
            )
        }),
        ("context 1000 deep but ignored", |p| {
            deep_dirs(&p.case, 1000);
            build(
                p,
                b"FROM busybox\nCOPY . /c\n",
                &[(".dockerignore", b"d\n")],
                Succeeds,
            )
        }),
        ("a context file named .wh.x", |p| {
            build(
                p,
                b"FROM busybox\nCOPY . /c\n",
                &[("sub/.wh.x", b"boo")],
                Fails("\"sub/.wh.x\": names starting with \".wh.\""),
            )
        }),
        ("an opaque marker in the context", |p| {
            build(
                p,
                b"FROM busybox\nCOPY . /c\n",
                &[("a/.wh..wh..opq", b"")],
                Fails("reserved for whiteouts"),
            )
        }),
        ("a symlink out of the context", |p| {
            fs::create_dir_all(&p.case).unwrap();
            make_symlink(&p.outside, p.case.join("link")).unwrap();
            build(
                p,
                b"FROM busybox\nCOPY link/victim /x\n",
                &[],
                Fails("not found"),
            )
        }),
        ("a symlinked context directory is copied as a link", |p| {
            fs::create_dir_all(&p.case).unwrap();
            make_symlink(&p.outside, p.case.join("link")).unwrap();
            build(
                p,
                b"FROM busybox\nCOPY . /c\nRUN test -L /c/link\n",
                &[],
                Succeeds,
            )
        }),
        ("a fifo in the context", |p| {
            fs::create_dir_all(&p.case).unwrap();
            let fifo = p.case.join("pipe");
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            build(
                p,
                b"FROM busybox\nCOPY . /c\nRUN test ! -e /c/pipe\n",
                &[],
                Succeeds,
            )
        }),
        ("a non-UTF-8 file name", |p| {
            use std::os::unix::ffi::OsStrExt;
            fs::create_dir_all(&p.case).unwrap();
            fs::write(p.case.join(std::ffi::OsStr::from_bytes(b"bad\xff")), "x").unwrap();
            build(p, b"FROM busybox\nCOPY . /c\n", &[], Fails("valid UTF-8"))
        }),
        (".dockerignore with 2000 globstars", |p| {
            let ignore = format!("{}x\n", "**/".repeat(2000));
            build(
                p,
                b"FROM busybox\nCOPY . /c\n",
                &[(".dockerignore", ignore.as_bytes()), ("a", b"a")],
                Either,
            )
        }),
        (".dockerignore with non-UTF-8 bytes", |p| {
            build(
                p,
                b"FROM busybox\nCOPY . /c\n",
                &[(".dockerignore", b"\xff\xfe*\n"), ("a", b"a")],
                Either,
            )
        }),
        (".dockerignore with a bad pattern", |p| {
            build(
                p,
                b"FROM busybox\nCOPY . /c\n",
                &[(".dockerignore", b"[\n")],
                Fails(".dockerignore"),
            )
        }),
    ]
}

fn cache_cases() -> Vec<Case> {
    vec![
        ("cache layer climbing out", |p| {
            let cache = p.case.join("cache");
            let bytes = layer(&[file("../../x", "x")]);
            cache_dir(&cache, &bytes, &sha(&bytes));
            let mut steps = build(p, b"FROM busybox\nRUN true\n", &[], Succeeds);
            steps[0].0.splice(
                1..1,
                args(&["--cache-from", &format!("type=local,src={}", path(&cache))]),
            );
            steps
        }),
        ("cache layer writing through a link", |p| {
            let cache = p.case.join("cache");
            let bytes = layer(&[symlink("l", "/"), file("l/etc/pwned", "x")]);
            cache_dir(&cache, &bytes, &sha(&bytes));
            let mut steps = build(p, b"FROM busybox\nRUN true\n", &[], Succeeds);
            steps[0].0.splice(
                1..1,
                args(&["--cache-from", &format!("type=local,src={}", path(&cache))]),
            );
            steps
        }),
        ("cache layer with a wrong diff id", |p| {
            let cache = p.case.join("cache");
            cache_dir(&cache, &layer(&[file("a", "a")]), &sha(b"other"));
            let mut steps = build(p, b"FROM busybox\nRUN true\n", &[], Succeeds);
            steps[0].0.splice(
                1..1,
                args(&["--cache-from", &format!("type=local,src={}", path(&cache))]),
            );
            steps
        }),
        ("cache directory that is not JSON", |p| {
            let cache = p.case.join("cache");
            write_index(&cache, vec![]);
            fs::write(cache.join("index.json"), b"\x00\x01").unwrap();
            let mut steps = build(p, b"FROM busybox\nRUN true\n", &[], Either);
            steps[0].0.splice(
                1..1,
                args(&["--cache-from", &format!("type=local,src={}", path(&cache))]),
            );
            steps
        }),
    ]
}

/// Runs one step and judges it; returns stderr for the report.
fn judge(store: &TestStore, name: &str, step: &[String], expect: Expect) {
    let out = store.rbuild(step);
    let err = stderr(&out);
    let short: String = err.chars().take(2000).collect();
    assert!(
        out.status.signal().is_none() && out.status.code().is_some(),
        "{name}: killed by a signal ({:?})\n{short}",
        out.status
    );
    assert!(!err.contains("panicked"), "{name}: panicked\n{short}");
    match expect {
        Succeeds => assert!(
            out.status.success(),
            "{name}: failed\n{}\n{short}",
            stdout(&out)
        ),
        Fails(text) => {
            assert!(
                !out.status.success(),
                "{name}: succeeded, expected {text:?}"
            );
            assert_eq!(out.status.code(), Some(1), "{name}: exit code\n{short}");
            assert!(err.contains(text), "{name}: expected {text:?} in\n{short}");
            assert!(
                !err.contains("/tmp/rbuild-store-"),
                "{name}: names the store's path\n{short}"
            );
        }
        Either => {}
    }
}

#[test]
fn hostile_inputs_are_refused_or_handled() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let cases: Vec<_> = dockerfile_cases()
        .into_iter()
        .chain(context_cases())
        .chain(archive_cases())
        .chain(cache_cases())
        .collect();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (name, setup) in cases {
        let base = tempfile::Builder::new()
            .prefix("hostile-case-")
            .tempdir()
            .unwrap();
        let place = Place {
            case: base.path().join("case"),
            out: base.path().join("out"),
            outside: base.path().join("outside"),
        };
        fs::create_dir_all(&place.outside).unwrap();
        fs::write(place.outside.join("victim"), "untouched").unwrap();
        let steps = setup(&place);
        let before = tree_listing(base.path(), &[&place.out]);
        for (step, expect) in &steps {
            judge(&store, name, step, *expect);
        }
        assert_eq!(
            before,
            tree_listing(base.path(), &[&place.out]),
            "{name}: files outside changed"
        );
        assert!(
            !place.outside.join("pwned").exists(),
            "{name}: wrote outside"
        );
        if name.contains("stray whiteout") {
            assert!(place.out.join("etc/keep").is_file(), "{name}: output");
            assert!(
                !place.out.join("nothing").exists() && !place.out.join("etc/gone").exists(),
                "{name}: phantom entries"
            );
        }
        let check = store.rbuild(&["cache", "check"]);
        assert!(
            check.status.success() && stdout(&check).contains("no damage"),
            "{name}: cache check\n{}{}",
            stdout(&check),
            stderr(&check)
        );
        // The case's own outputs may be owned by root and read-only: removed with the base.
    }
}

//! `with_mounted_layers` with real overlayfs and bind mounts in a private mount namespace,
//! run from the (multi-threaded) standard test harness.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rbuild_exec::{with_mounted_layers, LayerStack, SandboxError, SetupStage};

/// Creates `dir` holding `files` (relative path, content).
fn layer(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (path, content) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    dir.to_path_buf()
}

fn stack(base: &Path, lowers: Vec<PathBuf>) -> LayerStack {
    let stack = LayerStack {
        lowers,
        upper: base.join("upper"),
        work: base.join("work"),
    };
    std::fs::create_dir_all(&stack.upper).unwrap();
    std::fs::create_dir_all(&stack.work).unwrap();
    stack
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"))
}

fn mountinfo_mentions(path: &Path) -> bool {
    // /proc/thread-self: this thread's own mount namespace.
    read(Path::new("/proc/thread-self/mountinfo")).contains(&*path.to_string_lossy())
}

#[test]
fn the_merged_view_is_writable_and_changes_land_in_upper() {
    let base = tempfile::tempdir().unwrap();
    let top = layer(&base.path().join("l1"), &[("app/config", "top")]);
    let bottom = layer(
        &base.path().join("l0"),
        &[
            ("app/config", "bottom"),
            ("app/old", "x"),
            ("etc/keep", "k"),
        ],
    );
    let rw = stack(base.path(), vec![top, bottom]);
    let seen = with_mounted_layers(&rw, &[], |merged, ro| {
        assert!(ro.is_empty());
        let seen = (
            read(&merged.join("app/config")),
            read(&merged.join("etc/keep")),
        );
        std::fs::write(merged.join("app/new"), "fresh").unwrap();
        std::fs::remove_file(merged.join("app/old")).unwrap();
        seen
    })
    .unwrap();
    assert_eq!(seen, ("top".to_string(), "k".to_string()));
    assert_eq!(read(&rw.upper.join("app/new")), "fresh");
    let whiteout = std::fs::symlink_metadata(rw.upper.join("app/old")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert!(
        !rw.upper.join("etc").exists(),
        "untouched dirs stay out of upper"
    );
}

#[test]
fn read_only_stacks_are_merged_or_bound_and_refuse_writes() {
    let base = tempfile::tempdir().unwrap();
    let rw = stack(&base.path().join("rw"), vec![]);
    let single = layer(&base.path().join("single"), &[("only", "1")]);
    let upper_ro = layer(&base.path().join("ro-a"), &[("f", "a")]);
    let lower_ro = layer(&base.path().join("ro-b"), &[("f", "b"), ("g", "b")]);
    let ro = vec![vec![single], vec![upper_ro, lower_ro], vec![]];
    let views = with_mounted_layers(&rw, &ro, |merged, ro| {
        assert_eq!(
            std::fs::read_dir(merged).unwrap().count(),
            0,
            "no lowers: empty root"
        );
        let refused = ro
            .iter()
            .map(|dir| {
                std::fs::write(dir.join("w"), "x")
                    .unwrap_err()
                    .raw_os_error()
            })
            .collect::<Vec<_>>();
        let views = (
            read(&ro[0].join("only")),
            read(&ro[1].join("f")),
            read(&ro[1].join("g")),
            std::fs::read_dir(&ro[2]).unwrap().count(),
        );
        (refused, views)
    })
    .unwrap();
    assert_eq!(views.0, vec![Some(libc::EROFS); 3]);
    assert_eq!(views.1, ("1".into(), "a".into(), "b".into(), 0));
}

#[test]
fn mounts_are_private_to_the_call() {
    let base = tempfile::tempdir().unwrap();
    let rw = stack(
        base.path(),
        vec![layer(&base.path().join("l"), &[("a", "1")])],
    );
    // A thread that already exists stands for the rest of the process (and the host).
    let (ask, questions) = std::sync::mpsc::channel::<PathBuf>();
    let (tell, answers) = std::sync::mpsc::channel::<bool>();
    let outsider = std::thread::spawn(move || {
        for path in questions {
            tell.send(mountinfo_mentions(&path)).unwrap();
        }
    });
    let (inside, spawned_inside, outside) = with_mounted_layers(&rw, &[], move |merged, _| {
        let spawned =
            std::thread::scope(|s| s.spawn(|| mountinfo_mentions(merged)).join().unwrap());
        ask.send(merged.to_path_buf()).unwrap();
        (mountinfo_mentions(merged), spawned, answers.recv().unwrap())
    })
    .unwrap();
    outsider.join().unwrap();
    assert!(inside, "the mounting thread sees its overlay");
    assert!(
        spawned_inside,
        "threads it spawns inherit its mount namespace"
    );
    assert!(!outside, "other threads (and the host) do not see it");
    assert!(
        !mountinfo_mentions(&rw.work),
        "nothing stays mounted afterwards"
    );
}

#[test]
fn the_same_stack_can_be_mounted_again_right_away() {
    let base = tempfile::tempdir().unwrap();
    let rw = stack(
        base.path(),
        vec![layer(&base.path().join("l"), &[("n", "0")])],
    );
    for round in 1..=3 {
        with_mounted_layers(&rw, &[], |merged, _| {
            let n: u32 = read(&merged.join("n")).parse().unwrap();
            std::fs::write(merged.join("n"), (n + 1).to_string()).unwrap();
        })
        .unwrap();
        assert_eq!(read(&rw.upper.join("n")), round.to_string());
    }
}

#[test]
fn a_deep_stack_of_150_layers_mounts() {
    let base = tempfile::tempdir().unwrap();
    let long = "layer-directory-with-a-long-name-".repeat(4);
    let lowers: Vec<PathBuf> = (0..150)
        .rev()
        .map(|i| {
            layer(
                &base.path().join(format!("{long}{i:03}")),
                &[(&format!("f{i}"), "")],
            )
        })
        .collect();
    let rw = stack(base.path(), lowers);
    let count = with_mounted_layers(&rw, &[], |merged, _| {
        std::fs::read_dir(merged).unwrap().count()
    })
    .unwrap();
    assert_eq!(count, 150);
}

#[test]
fn a_missing_lower_is_named_in_the_error() {
    let base = tempfile::tempdir().unwrap();
    let missing = base.path().join("gone");
    let rw = stack(base.path(), vec![missing.clone()]);
    let err = with_mounted_layers(&rw, &[], |_, _| ()).unwrap_err();
    assert!(
        matches!(&err, SandboxError::Setup { stage: SetupStage::OverlayLayer, path, .. } if *path == missing),
        "{err}"
    );
}

#[test]
#[should_panic(expected = "closure failed")]
fn a_panic_in_the_closure_reaches_the_caller() {
    let base = tempfile::tempdir().unwrap();
    let rw = stack(base.path(), vec![]);
    let _ = with_mounted_layers(&rw, &[], |_, _| panic!("closure failed"));
}

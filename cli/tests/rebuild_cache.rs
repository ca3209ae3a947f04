//! End-to-end: a rebuild of an unchanged context runs nothing; touching files changes
//! nothing; changing one file's bytes re-runs exactly that COPY and what follows it.

mod common;

use std::fs;
use std::time::{Duration, SystemTime};

use common::{assert_success, context_copy, stderr, stdout, steps, TestStore};

fn build(store: &TestStore, context: &std::path::Path) -> (String, Vec<(String, bool)>) {
    let out = store.build(context, &["-t", "hello:1.0"]);
    assert_success(&out, "build");
    (stdout(&out).trim().to_string(), steps(&stderr(&out)))
}

fn touch_all(dir: &std::path::Path, when: SystemTime) {
    for entry in walk(dir) {
        let file = fs::File::options().write(true).open(&entry);
        if let Ok(file) = file {
            file.set_modified(when).unwrap();
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn unchanged_and_touched_contexts_run_nothing_and_a_changed_file_reruns_from_its_copy() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_copy("hello");

    let (first_id, first_steps) = build(&store, context.path());
    assert!(first_steps
        .iter()
        .any(|(name, cached)| name.contains("RUN") && !cached));

    // A later second: a fully cached rebuild must not pick up a new creation time.
    std::thread::sleep(Duration::from_millis(1100));
    let (second_id, second_steps) = build(&store, context.path());
    assert_eq!(second_id, first_id, "same image id");
    assert!(!second_steps.is_empty());
    for (name, cached) in &second_steps {
        assert!(cached, "{name} should be CACHED on an unchanged rebuild");
    }

    touch_all(
        context.path(),
        SystemTime::now() + Duration::from_secs(3600),
    );
    let (third_id, third_steps) = build(&store, context.path());
    assert_eq!(third_id, first_id, "touch keeps the image");
    assert!(
        third_steps.iter().all(|(_, cached)| *cached),
        "{third_steps:?}"
    );

    fs::write(context.path().join("src/data.txt"), "changed helper data\n").unwrap();
    let (fourth_id, fourth_steps) = build(&store, context.path());
    assert_ne!(fourth_id, first_id);
    let position = |needle: &str| {
        fourth_steps
            .iter()
            .position(|(name, _)| name.contains(needle))
            .unwrap_or_else(|| panic!("no step {needle} in {fourth_steps:?}"))
    };
    let changed_copy = position("COPY src/");
    for (index, (name, cached)) in fourth_steps.iter().enumerate() {
        if name.contains("FROM") || name.contains("WORKDIR") || name.contains("COPY greeting") {
            assert!(cached, "{name} precedes the change and must be CACHED");
        }
        if index >= changed_copy && (name.contains("COPY src/") || name.contains("RUN")) {
            assert!(!cached, "{name} follows the change and must run");
        }
    }
    assert!(!fourth_steps[position("RUN")].1);
}

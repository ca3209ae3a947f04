//! `--progress=rawjson`: every stderr line is one JSON event of the documented schema
//! (cli/src/progress_json.rs), for a run, a cached rebuild and a failure; and `--debug`
//! library logs, which reach plain stderr but never the rawjson stream.

mod common;

use common::{assert_success, context_copy, context_from, stderr, stdout, TestStore};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// The fields each event type must carry, beside `type` and `time`.
const SCHEMA: &[(&str, &[&str])] = &[
    ("vertex.started", &["vertex", "name"]),
    ("vertex.cached", &["vertex"]),
    ("vertex.log", &["vertex", "stream", "data"]),
    ("vertex.completed", &["vertex", "duration_ms"]),
    ("vertex.error", &["vertex", "error"]),
    ("notice", &["message"]),
    (
        "result",
        &[
            "image_id",
            "digest",
            "platforms",
            "executed",
            "cache_saved_ms",
        ],
    ),
    ("error", &["error"]),
];

/// Parses stderr as events, failing on any line that is not a valid one.
fn events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON event ({e}): {line:?}"));
            let kind = event["type"].as_str().unwrap_or_default();
            let (_, fields) = SCHEMA
                .iter()
                .find(|(k, _)| *k == kind)
                .unwrap_or_else(|| panic!("unknown event type in {line}"));
            assert!(event["time"].is_u64(), "time in {line}");
            for field in *fields {
                assert!(event.get(field).is_some(), "{field} missing in {line}");
            }
            event
        })
        .collect()
}

fn rawjson_build(store: &TestStore, context: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build", "--progress", "rawjson"];
    args.extend(extra);
    let context = context.display().to_string();
    args.push(&context);
    store.rbuild(&args)
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn a_build_streams_schema_valid_events_and_ends_with_the_result() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_copy("hello");
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM busybox\nCOPY greeting.txt /\nRUN cat /greeting.txt && echo visible && sleep 0.3\n",
    )
    .expect("write Dockerfile");
    let out = rawjson_build(&store, context.path(), &["-t", "hello:json"]);
    assert_success(&out, "rawjson build");
    let first = events(&stderr(&out));
    assert!(!of_type(&first, "vertex.started").is_empty());
    assert!(!of_type(&first, "vertex.completed").is_empty());
    assert!(
        !of_type(&first, "vertex.log").is_empty(),
        "RUN output is logged"
    );
    let result = first.last().expect("events");
    assert_eq!(result["type"], "result");
    assert_eq!(result["image_id"], stdout(&out).trim());

    let out = rawjson_build(&store, context.path(), &[]);
    assert_success(&out, "cached rawjson build");
    let second = events(&stderr(&out));
    assert!(!of_type(&second, "vertex.cached").is_empty());
    let rebuilt = second.last().expect("events");
    assert_eq!(rebuilt["executed"], 0);
    // The time the cache saved is what the cached steps took when they ran.
    let ran_ms: u64 = of_type(&first, "vertex.completed")
        .iter()
        .filter_map(|e| e["duration_ms"].as_u64())
        .sum();
    let saved_ms = rebuilt["cache_saved_ms"].as_u64().expect("cache_saved_ms");
    assert!(saved_ms >= 300, "the RUN slept 0.3s: {rebuilt}");
    assert!(saved_ms.abs_diff(ran_ms) <= 5, "{saved_ms} vs {ran_ms} ms");
}

#[test]
fn a_failure_is_an_error_event_and_nothing_else_reaches_stderr() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[("Dockerfile", "FROM busybox\nRUN echo doomed && exit 3\n")]);
    let out = rawjson_build(&store, context.path(), &[]);
    assert!(!out.status.success());
    let events = events(&stderr(&out));
    assert_eq!(of_type(&events, "vertex.error").len(), 1);
    let last = events.last().expect("events");
    assert_eq!(last["type"], "error");
    assert!(
        last["error"]
            .as_str()
            .unwrap_or_default()
            .contains("exit code: 3"),
        "{last}"
    );
}

#[test]
fn library_logs_reach_stderr_with_debug_and_stay_out_of_rawjson() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[("Dockerfile", "FROM busybox\nRUN true\n")]);
    let out = store.build(context.path(), &["--debug", "--no-cache"]);
    assert_success(&out, "build --debug");
    assert!(
        stderr(&out).contains("sandbox run finished"),
        "{}",
        stderr(&out)
    );
    let out = store.build(context.path(), &["--no-cache"]);
    assert!(!stderr(&out).contains("sandbox run finished"));
    let out = rawjson_build(&store, context.path(), &["--debug", "--no-cache"]);
    assert_success(&out, "rawjson --debug");
    events(&stderr(&out));
}

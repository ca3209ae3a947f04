//! Why a step's key differs from the step at the same position in an earlier build: the two
//! key materials are compared field by field, and a changed context selection is narrowed
//! down to the files that changed through the stored context listings.
//!
//! Choosing the earlier build and rendering the causes for people are done elsewhere.

use std::collections::{BTreeMap, BTreeSet};

use rbuild_cache::Store;
use serde_json::{Map, Value};

use super::listing::{FileChanges, Listing};
use super::record::{context_digest_of, BuildDocument, StepDocument};
use super::Cause;

/// What the comparison of one step needs besides the two materials.
pub(super) struct Comparison<'a> {
    pub store: &'a Store,
    /// Display name of the current step's parent (for "parent step changed").
    pub parent_name: Option<&'a str>,
    /// Display name of the vertex a COPY --from / mount reads (for "source stage changed").
    pub source_name: Option<&'a str>,
    pub build_args: &'a BTreeSet<String>,
    pub earlier: &'a BuildDocument,
}

/// Every difference between `before` and the current `material`, most specific first.
pub(super) fn causes(cx: &Comparison<'_>, before: &StepDocument, material: &Value) -> Vec<Cause> {
    if before.material.get("version") != material.get("version") {
        return vec![Cause::KeyFormatChanged];
    }
    let empty = Map::new();
    let old = before
        .material
        .get("op")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new = material
        .get("op")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if old.get("kind") != new.get("kind") {
        return vec![Cause::InstructionReplaced {
            was: before.name.clone(),
        }];
    }
    let fields: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut found = Vec::new();
    let mut parent_changed = false;
    for field in fields {
        let (a, b) = (old.get(field), new.get(field));
        if a == b {
            continue;
        }
        match field.as_str() {
            "parent" => parent_changed = true,
            "args" => found.push(Cause::CommandChanged {
                before: command_text(a),
                after: command_text(b),
            }),
            "env" => found.extend(variable_changes(cx, a, b)),
            "source" => found.push(source_cause(cx, a, b)),
            other => found.push(Cause::OptionChanged {
                what: option_name(other).to_string(),
            }),
        }
    }
    // The parent last: a step's own change is the more useful thing to say.
    if parent_changed {
        found.push(Cause::ParentChanged {
            parent: cx.parent_name.unwrap_or("the previous step").to_string(),
        });
    }
    found
}

fn command_text(args: Option<&Value>) -> String {
    let words: Vec<&str> = args
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Shell form (`/bin/sh -c "..."`): the script is what the user wrote.
    match words.as_slice() {
        [_, flag, script] if *flag == "-c" => script.to_string(),
        _ => words.join(" "),
    }
}

/// `KEY=VALUE` lists compared by key.
fn variable_changes(
    cx: &Comparison<'_>,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Vec<Cause> {
    let (before, after) = (variables(before), variables(after));
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .map(|name| Cause::VariableChanged {
            name: name.clone(),
            before: before.get(name).cloned(),
            after: after.get(name).cloned(),
            build_arg: cx.build_args.contains(name) || cx.earlier.build_args.contains(name),
        })
        .collect()
}

fn variables(list: Option<&Value>) -> BTreeMap<String, String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (pair.to_string(), String::new()),
        })
        .collect()
}

fn source_cause(cx: &Comparison<'_>, before: Option<&Value>, after: Option<&Value>) -> Cause {
    let wrap = |v: Option<&Value>| serde_json::json!({ "op": { "source": v } });
    let (old, new) = (wrap(before), wrap(after));
    match (context_digest_of(&old), context_digest_of(&new)) {
        (Some(old), Some(new)) => context_cause(cx.store, &old, &new),
        _ if after.and_then(|s| s.get("vertex")).is_some() => Cause::SourceChanged {
            source: cx.source_name.unwrap_or("the source stage").to_string(),
        },
        _ if after.and_then(|s| s.get("inline")).is_some() => Cause::OptionChanged {
            what: "inline (heredoc) content".to_string(),
        },
        _ if after.and_then(|s| s.get("remote")).is_some() => Cause::OptionChanged {
            what: "remote content (a downloaded file or a git commit)".to_string(),
        },
        _ => Cause::OptionChanged {
            what: "copy source".to_string(),
        },
    }
}

/// Names the files that differ between two context selections, when both listings are kept.
fn context_cause(store: &Store, before: &rbuild_oci::Digest, after: &rbuild_oci::Digest) -> Cause {
    let read = |digest| match store.history().listing(digest) {
        Ok(found) => found.map(|text| Listing::from_text(&text)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a context listing");
            None
        }
    };
    match (read(before), read(after)) {
        (Some(old), Some(new)) => {
            let changes = new.changes_since(&old);
            if changes.is_empty() {
                // Same files, same bytes: only the way sources were named differs.
                Cause::OptionChanged {
                    what: "source paths".to_string(),
                }
            } else {
                Cause::ContextFiles(changes)
            }
        }
        _ => Cause::ContextFiles(FileChanges::default()),
    }
}

/// What users call the key material fields that have no cause of their own.
fn option_name(field: &str) -> &str {
    match field {
        "cwd" => "working directory",
        "user" => "user",
        "network" => "network mode",
        "platform" => "platform",
        "mounts" => "RUN --mount options or sources",
        "paths" => "source paths",
        "dest" => "destination",
        "chown" => "--chown",
        "chmod" => "--chmod",
        "excludes" => "--exclude patterns",
        "unpack_archives" => "archive unpacking (ADD)",
        "parents" => "--parents",
        "path" => "directory",
        "mode" => "mode",
        "owner" => "owner",
        "manifest" => "base image",
        "source_date_epoch" => "SOURCE_DATE_EPOCH",
        "more" => "heredoc or remote sources",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbuild_oci::Digest;
    use serde_json::json;

    fn step(material: Value) -> StepDocument {
        StepDocument {
            position: "2".into(),
            name: "[2/3] RUN echo $GREETING".into(),
            key: Digest::of(material.to_string().as_bytes()),
            material,
            duration_ms: None,
        }
    }

    fn run(parent: &str, script: &str, env: &[&str]) -> Value {
        json!({"version": 1, "op": {"kind": "run", "parent": parent,
            "args": ["/bin/sh", "-c", script], "env": env, "cwd": "/"}})
    }

    fn compare(before: Value, after: &Value, build_args: &[&str]) -> Vec<Cause> {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let earlier = BuildDocument::default();
        let args: BTreeSet<String> = build_args.iter().map(|s| s.to_string()).collect();
        let cx = Comparison {
            store: &store,
            parent_name: Some("[1/3] COPY . ."),
            source_name: None,
            build_args: &args,
            earlier: &earlier,
        };
        causes(&cx, &step(before), after)
    }

    #[test]
    fn a_changed_build_arg_is_named_with_both_values() {
        let causes = compare(
            run("p", "echo $G", &["G=hi", "PATH=/bin"]),
            &run("p", "echo $G", &["G=hello", "PATH=/bin"]),
            &["G"],
        );
        assert_eq!(
            causes,
            [Cause::VariableChanged {
                name: "G".into(),
                before: Some("hi".into()),
                after: Some("hello".into()),
                build_arg: true
            }]
        );
    }

    #[test]
    fn own_changes_come_before_a_parent_change() {
        let causes = compare(run("p1", "make", &[]), &run("p2", "make all", &[]), &[]);
        assert_eq!(
            causes,
            [
                Cause::CommandChanged {
                    before: "make".into(),
                    after: "make all".into()
                },
                Cause::ParentChanged {
                    parent: "[1/3] COPY . .".into()
                }
            ]
        );
    }

    #[test]
    fn new_remote_content_is_named_as_such() {
        let add = |digest: &str| {
            json!({"version": 1, "op": {"kind": "copy", "parent": "p",
                "source": {"remote": [{"http": {"file": {"digest": digest}}}]}}})
        };
        assert_eq!(
            compare(add("sha256:1"), &add("sha256:2"), &[]),
            [Cause::OptionChanged {
                what: "remote content (a downloaded file or a git commit)".into()
            }]
        );
    }

    #[test]
    fn a_different_instruction_at_the_position_is_a_replacement() {
        let copy = json!({"version": 1, "op": {"kind": "copy", "parent": "p"}});
        let causes = compare(run("p", "make", &[]), &copy, &[]);
        assert_eq!(
            causes,
            [Cause::InstructionReplaced {
                was: "[2/3] RUN echo $GREETING".into()
            }]
        );
    }
}

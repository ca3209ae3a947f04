//! `rbuild logs [BUILD] [STEP]`: the full output steps printed, as `step_logs` recorded it.
//! Without BUILD it lists recent builds; BUILD (an id or its prefix, `last` or omitted with
//! a STEP: the newest) shows every step's log, and STEP (a number or part of the step's
//! name) one.
//!
//! Recording is `step_logs`'; this module only reads.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use rbuild_cache::Store;

use crate::step_logs::{builds, logs_root};

pub fn run(store: &Store, build: Option<&str>, step: Option<&str>) -> Result<()> {
    let root = logs_root(store.root());
    let all = builds(&root);
    let Some(wanted) = build else {
        println!("{:<24}  {:<20}  {:>5}  STATUS", "BUILD", "STARTED", "STEPS");
        for dir in &all {
            let steps = steps(dir);
            println!(
                "{:<24}  {:<20}  {:>5}  {}",
                name(dir),
                started(dir),
                steps.len(),
                fs::read_to_string(dir.join("status")).unwrap_or_else(|_| "RUNNING".into())
            );
        }
        return Ok(());
    };
    let dir = match wanted {
        "last" => all.first(),
        prefix => all.iter().find(|d| name(d).starts_with(prefix)),
    }
    .ok_or_else(|| anyhow!("no logs of build {wanted:?} (`rbuild logs` lists them)"))?;
    let steps = steps(dir);
    let chosen: Vec<&(String, String)> = match step {
        None => steps.iter().collect(),
        Some(step) => {
            let found: Vec<&(String, String)> = steps
                .iter()
                .filter(|(n, name)| n == step || name.contains(step))
                .collect();
            if found.is_empty() {
                bail!("build {} has no step {step:?}", name(dir));
            }
            found
        }
    };
    for (number, step_name) in chosen {
        println!("#{number} {step_name}");
        let log = fs::read(dir.join(format!("{number}.log"))).unwrap_or_default();
        let text = String::from_utf8_lossy(&log);
        for line in text.lines() {
            println!("#{number} {line}");
        }
    }
    Ok(())
}

fn name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `(number, name)` of each recorded step.
fn steps(dir: &Path) -> Vec<(String, String)> {
    fs::read_to_string(dir.join("steps"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(n, name)| (n.to_string(), name.to_string()))
        .collect()
}

/// The build's start, from its directory name (`<unix seconds>-<pid>`).
fn started(dir: &Path) -> String {
    let seconds: i64 = name(dir)
        .split('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

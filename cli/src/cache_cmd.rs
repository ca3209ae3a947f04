//! `rbuild cache du|prune|check` and the `--gc-keep-storage` setting: how sizes and
//! durations are written (`10GB`, `24h`) and how the store's maintenance reports are shown.
//! The default limit and the cleanup after each build are the store's and the engine's.
//!
//! Deciding what to remove is the store's job (`Store::prune`); this module turns flags into
//! a policy and reports into text.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rbuild_cache::{CheckReport, DiskUsage, PrunePolicy, PruneReport, Store};

use crate::args::{CacheCommand, PruneArgs};
use crate::images::human_size;

pub fn run(store: &Store, command: &CacheCommand) -> Result<()> {
    match command {
        CacheCommand::Du { bytes } => du(store, *bytes),
        CacheCommand::Prune(args) => prune(store, args),
        CacheCommand::Check { repair } => check(store, *repair),
    }
}

fn du(store: &Store, exact: bool) -> Result<()> {
    let usage = store.disk_usage()?;
    let show = |n: u64| if exact { n.to_string() } else { human_size(n) };
    for (kind, bytes) in usage_rows(&usage) {
        println!("{kind:<14} {}", show(bytes));
    }
    println!("{:<14} {}", "total", show(usage.total()));
    Ok(())
}

fn usage_rows(usage: &DiskUsage) -> [(&'static str, u64); 7] {
    [
        ("layers", usage.layer_blobs),
        ("snapshots", usage.snapshots),
        ("images", usage.other_blobs),
        ("context-memo", usage.context_memo),
        ("build-history", usage.build_history),
        ("cache-mounts", usage.cache_mounts),
        ("temp", usage.temp),
    ]
}

fn prune(store: &Store, args: &PruneArgs) -> Result<()> {
    let mut policy = PrunePolicy {
        all: args.all,
        ..PrunePolicy::default()
    };
    for filter in &args.filters {
        match filter.split_once('=') {
            Some(("until", value)) => policy.older_than = Some(parse_duration(value)?),
            _ => bail!("--filter {filter:?}: only until=DURATION is supported"),
        }
    }
    if let Some(size) = &args.keep_storage {
        let bound = parse_size(size)?;
        // Prune bounds snapshots and blobs; what it cannot remove counts against the bound.
        let usage = store.disk_usage()?;
        let fixed = usage.context_memo + usage.build_history + usage.cache_mounts + usage.temp;
        policy.keep_storage = Some(bound.saturating_sub(fixed));
    }
    let report = store.prune(&policy)?;
    print_prune(&report);
    if let Some(size) = &args.keep_storage {
        let total = store.disk_usage()?.total();
        if total > parse_size(size)? {
            eprintln!(
                "warning: the store still uses {}: tagged images and running builds need the rest",
                human_size(total)
            );
        }
    }
    Ok(())
}

fn print_prune(report: &PruneReport) {
    println!(
        "removed {} cache records, {} snapshots, {} blobs; reclaimed {}",
        report.records_removed,
        report.snapshots_removed,
        report.blobs_removed,
        human_size(report.bytes_reclaimed)
    );
}

fn check(store: &Store, repair: bool) -> Result<()> {
    let report = store.check(repair)?;
    print_check(&report);
    if report.is_damaged() && !repair {
        bail!("the store is damaged; `rbuild cache check --repair` removes the broken parts");
    }
    Ok(())
}

fn print_check(report: &CheckReport) {
    println!("verified {} blobs", report.blobs_verified);
    let findings: [(&str, usize); 8] = [
        ("corrupt blobs", report.corrupt_blobs.len()),
        (
            "snapshots missing their directory",
            report.missing_snapshots.len(),
        ),
        (
            "layer records missing their blob",
            report.dangling_layer_blobs.len(),
        ),
        (
            "snapshots that no longer give their layer",
            report.altered_snapshots.len(),
        ),
        (
            "layer blobs that are not their layer or hold unsafe entries",
            report.bad_layer_blobs.len(),
        ),
        ("broken image names", report.broken_images.len()),
        (
            "cache records with unavailable layers",
            report.broken_records.len(),
        ),
        (
            "crash leftovers (unrecorded snapshot directories, harmless)",
            report.orphan_snapshot_dirs.len(),
        ),
    ];
    for (what, count) in findings.iter().filter(|(_, n)| *n > 0) {
        let verb = if report.repaired { "removed" } else { "found" };
        println!("{verb} {count} {what}");
    }
    match (report.is_damaged(), report.repaired) {
        (false, _) => println!("no damage"),
        (true, true) => println!("repaired: the next build rebuilds what was removed"),
        (true, false) => {}
    }
}

/// The store size limit: `None` when disabled, the setting when given, else the default.
pub fn gc_limit(root: &Path, setting: Option<&str>) -> Result<Option<u64>> {
    match setting.map(str::trim) {
        Some("0" | "off" | "false" | "none") => Ok(None),
        Some(size) => parse_size(size)
            .map(Some)
            .context("--gc-keep-storage / RBUILD_GC_KEEP_STORAGE"),
        None => Ok(Some(rbuild_cache::default_gc_limit(root))),
    }
}

/// Sizes as docker's `--keep-storage` reads them: a number with an optional unit (`k`, `m`,
/// `g`, `t`, optionally followed by `b` or `ib`), units of 1024, case-insensitive.
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| anyhow!("invalid size {text:?} (expected e.g. 500MB, 10GB)"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => bail!("invalid size {text:?}: unknown unit (use B, KB, MB, GB, TB)"),
    };
    Ok((value * 1024f64.powi(power)) as u64)
}

/// Durations as Go writes them (`24h`, `1h30m`, `90s`), plus days (`7d`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let invalid = || anyhow!("invalid duration {text:?} (expected e.g. 24h, 30m, 1h30m)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let value: f64 = rest[..split].parse().map_err(|_| invalid())?;
        let unit_len = rest[split..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - split);
        let seconds = match &rest[split..split + unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(invalid()),
        };
        total += value * seconds;
        rest = &rest[split + unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("500MB").unwrap(), 500 << 20);
        assert_eq!(parse_size("10GB").unwrap(), 10 << 30);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("2KiB").unwrap(), 2048);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5XB").is_err());
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn gc_limits_follow_the_setting() {
        let root = Path::new("/");
        assert_eq!(gc_limit(root, Some("off")).unwrap(), None);
        assert_eq!(gc_limit(root, Some("0")).unwrap(), None);
        assert_eq!(gc_limit(root, Some("1GB")).unwrap(), Some(1 << 30));
        let default = gc_limit(root, None).unwrap().unwrap();
        assert!(default > 0 && default <= rbuild_cache::DEFAULT_GC_CAP);
        assert!(gc_limit(root, Some("lots")).is_err());
    }
}

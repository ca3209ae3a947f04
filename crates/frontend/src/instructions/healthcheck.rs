//! HEALTHCHECK: `NONE`, or `CMD` with its timing flags, into the image config's
//! `Healthcheck` (durations in nanoseconds, zero values left out as Docker leaves them).
//!
//! HEALTHCHECK is not variable-expanded (BuildKit doesn't); its command runs in the container.

use rbuild_oci::HealthConfig;

use crate::ast::Node;
use crate::error::Fault;

use super::duration::parse_go_duration;
use super::flags::{FlagKind, Flags};

/// Docker's minimum for every HEALTHCHECK duration flag.
const MINIMUM_NANOS: i64 = 1_000_000;

pub(super) fn parse(node: &Node) -> Result<HealthConfig, Fault> {
    let Some((kind, rest)) = node.args.split_first() else {
        return Err(Fault::instruction(
            "HEALTHCHECK requires at least one argument",
        ));
    };
    let kind = kind.to_ascii_uppercase();
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err(Fault::instruction("HEALTHCHECK NONE takes no arguments"));
        }
        return Ok(HealthConfig {
            test: Some(vec![kind]),
            ..HealthConfig::default()
        });
    }
    let flags = Flags::parse(
        &node.flags,
        &[
            ("interval", FlagKind::Text),
            ("timeout", FlagKind::Text),
            ("start-period", FlagKind::Text),
            ("start-interval", FlagKind::Text),
            ("retries", FlagKind::Text),
        ],
    )?;
    if kind != "CMD" {
        return Err(Fault::instruction(format!(
            "Unknown type {kind:?} in HEALTHCHECK (try CMD)"
        )));
    }
    let test = if node.json {
        rest.to_vec()
    } else if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.join(" ")]
    };
    if test.is_empty() {
        return Err(Fault::instruction("Missing command after HEALTHCHECK CMD"));
    }
    let test_kind = if node.json { "CMD" } else { "CMD-SHELL" };
    Ok(HealthConfig {
        test: Some(std::iter::once(test_kind.to_string()).chain(test).collect()),
        interval: interval(&flags, "interval")?,
        timeout: interval(&flags, "timeout")?,
        start_period: interval(&flags, "start-period")?,
        start_interval: interval(&flags, "start-interval")?,
        retries: retries(&flags)?,
    })
}

/// A duration flag: `None` when absent or zero, an error below Docker's 1ms minimum.
fn interval(flags: &Flags, name: &str) -> Result<Option<i64>, Fault> {
    let Some(text) = flags.text(name) else {
        return Ok(None);
    };
    let nanos = parse_go_duration(&text).map_err(|e| Fault::instruction(e).focus(&text))?;
    if nanos == 0 {
        return Ok(None);
    }
    if nanos < MINIMUM_NANOS {
        return Err(Fault::instruction(format!(
            "Interval {name:?} cannot be less than 1ms"
        )));
    }
    Ok(Some(nanos))
}

fn retries(flags: &Flags) -> Result<Option<i64>, Fault> {
    let Some(text) = flags.text("retries") else {
        return Ok(None);
    };
    let retries: i32 = text.parse().map_err(|_| {
        Fault::instruction(format!("invalid value for --retries: {text:?}")).focus(&text)
    })?;
    if retries < 0 {
        return Err(Fault::instruction(format!(
            "--retries cannot be negative ({retries})"
        )));
    }
    Ok((retries > 0).then_some(i64::from(retries)))
}

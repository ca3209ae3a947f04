//! `rbuild history IMAGE`: the config's history, newest first, in `docker history`'s
//! columns — IMAGE, CREATED, CREATED BY, SIZE, COMMENT — with the size of the layer each
//! entry added; `--no-trunc`, `-q` and `--format` as docker has them.
//!
//! Only the top entry is an image rbuild can name; the others print `<missing>`, as docker
//! prints them for every image that was not built by the local daemon.

use anyhow::Result;
use rbuild_cache::Store;
use rbuild_oci::ImageConfig;
use serde_json::json;

use crate::args::HistoryArgs;
use crate::go_template::Template;
use crate::image_lookup;
use crate::images::{human_size, print_table, short_id};

/// One history entry, with the size of the layer it made (0 for metadata).
struct HistoryRow {
    id: String,
    created: Option<String>,
    created_by: String,
    size: u64,
    comment: String,
}

const CREATED_BY_WIDTH: usize = 45;

pub fn run(store: &Store, args: &HistoryArgs) -> Result<()> {
    let image = image_lookup::find(store, &args.image)?;
    let platform = image.platform(store, args.platform.as_deref())?;
    let rows = rows(store, &platform.config, &platform.config_digest.to_string());
    let now = unix_now();
    if args.quiet {
        for row in &rows {
            println!("{}", short_id(&row.id, args.no_trunc));
        }
        return Ok(());
    }
    if let Some(format) = &args.format {
        let template = Template::parse(format)?;
        for row in &rows {
            let value = json!({
                "ID": short_id(&row.id, args.no_trunc),
                "CreatedSince": since(row.created.as_deref(), now),
                "CreatedAt": row.created.clone().unwrap_or_default(),
                "CreatedBy": row.created_by,
                "Size": human_size(row.size),
                "Comment": row.comment,
            });
            println!("{}", template.render(&value)?);
        }
        return Ok(());
    }
    let mut table = vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
        .map(str::to_string)
        .to_vec()];
    for row in &rows {
        table.push(vec![
            short_id(&row.id, args.no_trunc),
            since(row.created.as_deref(), now),
            truncate(&row.created_by, args.no_trunc),
            human_size(row.size),
            row.comment.clone(),
        ]);
    }
    print_table(&table);
    Ok(())
}

/// The history entries newest first, each layer entry paired with its diff id's size.
fn rows(store: &Store, config: &ImageConfig, image_id: &str) -> Vec<HistoryRow> {
    let mut layers = config.rootfs.diff_ids.iter();
    let mut rows: Vec<HistoryRow> = config
        .history
        .iter()
        .map(|entry| {
            let size = match entry.empty_layer {
                true => 0,
                false => layers
                    .next()
                    .map_or(0, |d| store.layers().layer_size(d).unwrap_or(0)),
            };
            HistoryRow {
                id: "<missing>".to_string(),
                created: entry.created.clone(),
                created_by: entry.created_by.clone().unwrap_or_default(),
                size,
                comment: entry.comment.clone().unwrap_or_default(),
            }
        })
        .collect();
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = image_id.to_string();
    }
    rows
}

/// Docker cuts CREATED BY to 45 characters, ending in `…`.
fn truncate(text: &str, no_trunc: bool) -> String {
    if no_trunc || text.chars().count() <= CREATED_BY_WIDTH {
        return text.to_string();
    }
    let kept: String = text.chars().take(CREATED_BY_WIDTH - 1).collect();
    kept + "…"
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `3 hours ago`, as docker words the age of an entry (`N/A` without a time).
fn since(created: Option<&str>, now: i64) -> String {
    let Some(then) = created.and_then(parse_rfc3339) else {
        return "N/A".to_string();
    };
    let seconds = (now - then).max(0);
    let (amount, unit) = match seconds {
        s if s < 60 => return "Less than a minute ago".to_string(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s if s < 86_400 * 14 => (s / 86_400, "day"),
        s if s < 86_400 * 60 => (s / (86_400 * 7), "week"),
        s if s < 86_400 * 365 * 2 => (s / (86_400 * 30), "month"),
        s => (s / (86_400 * 365), "year"),
    };
    match amount {
        1 if unit == "hour" => "About an hour ago".to_string(),
        1 => format!("1 {unit} ago"),
        n => format!("{n} {unit}s ago"),
    }
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(parsed.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_worded_like_docker() {
        let t = |s: &str| parse_rfc3339(s).unwrap();
        let now = t("2024-01-10T12:00:00Z");
        assert_eq!(
            since(Some("2024-01-10T11:59:30Z"), now),
            "Less than a minute ago"
        );
        assert_eq!(
            since(Some("2024-01-10T11:00:00Z"), now),
            "About an hour ago"
        );
        assert_eq!(since(Some("2024-01-10T07:00:00Z"), now), "5 hours ago");
        assert_eq!(since(Some("2024-01-07T12:00:00Z"), now), "3 days ago");
        assert_eq!(since(Some("2021-01-10T12:00:00Z"), now), "3 years ago");
        assert_eq!(since(None, now), "N/A");
        assert_eq!(t("1970-01-01T00:00:00Z"), 0);
    }

    #[test]
    fn long_commands_are_cut_like_docker() {
        let long = "RUN /bin/sh -c apt-get update && apt-get install -y build-essential";
        let cut = truncate(long, false);
        assert_eq!(cut.chars().count(), CREATED_BY_WIDTH);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate(long, true), long);
    }
}

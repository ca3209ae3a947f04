//! `rbuild images`: the named images in the store, as `docker images` shows them (filtered
//! by `REPOSITORY[:TAG]`, `-q`, `--digests`, `--format`), with the
//! platforms each serves (a multi-platform image is one row, its id the index digest, as
//! docker's containerd image store shows it).

use anyhow::{Context, Result};
use rbuild_cache::{ImageEntry, Store};
use rbuild_oci::{descriptor_digest, media_types, ImageReference};
use rbuild_solver::manifest_config;
use serde_json::{json, Value};

use crate::args::ImagesArgs;
use crate::go_template::Template;

/// One listed image, with the fields `--format` can name.
struct ImageRow {
    repository: String,
    tag: String,
    id: String,
    digest: String,
    created: String,
    size: u64,
    platforms: Vec<String>,
}

/// Prints REPOSITORY, TAG, [DIGEST,] IMAGE ID, CREATED, SIZE and PLATFORMS for each image
/// (`REPOSITORY[:TAG]` keeps only matching names), or only ids (`-q`), or a template.
pub fn run(store: &Store, args: &ImagesArgs) -> Result<()> {
    let filter = args
        .reference
        .as_deref()
        .map(NameFilter::parse)
        .transpose()?;
    let mut rows = Vec::new();
    for entry in store.images().list()? {
        if filter.as_ref().is_none_or(|f| f.matches(&entry.name)) {
            rows.push(image_row(store, &entry)?);
        }
    }
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for row in &rows {
            if seen.insert(row.id.clone()) {
                println!("{}", short_id(&row.id, args.no_trunc));
            }
        }
        return Ok(());
    }
    if let Some(format) = &args.format {
        let template = Template::parse(format)?;
        for row in &rows {
            println!("{}", template.render(&row.template_value())?);
        }
        return Ok(());
    }
    print_table(&table(&rows, args));
    Ok(())
}

/// `REPOSITORY` (any tag) or `REPOSITORY:TAG`, as `docker images` takes it.
struct NameFilter {
    reference: ImageReference,
    any_tag: bool,
}

impl NameFilter {
    fn parse(text: &str) -> Result<NameFilter> {
        let reference = ImageReference::parse(text)
            .with_context(|| format!("invalid image filter {text:?}"))?;
        let last = text.rsplit('/').next().unwrap_or(text);
        Ok(NameFilter {
            reference,
            any_tag: !last.contains(':') && !last.contains('@'),
        })
    }

    fn matches(&self, name: &ImageReference) -> bool {
        if self.any_tag {
            name.repository() == self.reference.repository()
        } else {
            name == &self.reference
        }
    }
}

fn image_row(store: &Store, entry: &ImageEntry) -> Result<ImageRow> {
    let mut size = 0u64;
    let mut created = None;
    let mut platforms = Vec::new();
    let target_digest = descriptor_digest(&entry.target)?;
    let mut image_id = target_digest.clone();
    for (manifest, platform) in store.platforms_of(&entry.target)? {
        let (config_digest, config) = manifest_config(store, &manifest)?;
        size += config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| store.layers().layer_size(d).unwrap_or(0))
            .sum::<u64>();
        created = created.max(config.created.clone());
        platforms.push(platform.to_string());
        if !media_types::is_index(entry.target.media_type().as_ref()) {
            image_id = config_digest;
        }
    }
    Ok(ImageRow {
        repository: entry.name.familiar_repository(),
        tag: entry.name.tag().unwrap_or("<none>").to_string(),
        id: image_id.to_string(),
        digest: target_digest.to_string(),
        created: created.unwrap_or_else(|| "N/A".to_string()),
        size,
        platforms,
    })
}

impl ImageRow {
    fn template_value(&self) -> Value {
        json!({
            "Repository": self.repository,
            "Tag": self.tag,
            "ID": short_id(&self.id, false),
            "Digest": self.digest,
            "CreatedAt": self.created,
            "Size": human_size(self.size),
            "Platforms": self.platforms.join(","),
        })
    }
}

/// `sha256:` and 12 hex digits, as docker shortens ids (the full id with `--no-trunc`).
pub(crate) fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        return id.to_string();
    }
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

fn table(rows: &[ImageRow], args: &ImagesArgs) -> Vec<Vec<String>> {
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE", "PLATFORMS"]);
    let mut table = vec![header.into_iter().map(str::to_string).collect::<Vec<_>>()];
    for row in rows {
        let mut cells = vec![row.repository.clone(), row.tag.clone()];
        if args.digests {
            cells.push(row.digest.clone());
        }
        cells.extend([
            short_id(&row.id, args.no_trunc),
            row.created.clone(),
            human_size(row.size),
            row.platforms.join(","),
        ]);
        table.push(cells);
    }
    table
}

/// Prints rows as docker does: columns padded to their widest cell, three spaces apart.
pub(crate) fn print_table(rows: &[Vec<String>]) {
    let mut widths = vec![0usize; rows.first().map_or(0, Vec::len)];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}

/// Sizes as docker prints them: decimal units, three significant digits.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + UNITS[unit]
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_261_000), "4.261MB");
        assert_eq!(human_size(1_500), "1.5kB");
        assert_eq!(
            super::short_id("sha256:0123456789abcdef", false),
            "0123456789ab"
        );
        assert_eq!(super::short_id("<missing>", false), "<missing>");
    }
}

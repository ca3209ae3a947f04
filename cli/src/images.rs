//! `rbuild images`: the named images in the store, as `docker images` shows them, with the
//! platforms each serves (a multi-platform image is one row, its id the index digest, as
//! docker's containerd image store shows it).

use anyhow::Result;
use rbuild_cache::Store;
use rbuild_oci::{descriptor_digest, media_types};
use rbuild_solver::manifest_config;

const COLUMNS: usize = 6;

/// Prints REPOSITORY, TAG, IMAGE ID, CREATED, SIZE and PLATFORMS for each image.
pub fn run(store: &Store) -> Result<()> {
    let mut rows = vec![[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "PLATFORMS",
    ]
    .map(str::to_string)];
    for entry in store.images().list()? {
        let mut size = 0u64;
        let mut created = None;
        let mut platforms = Vec::new();
        let mut image_id = descriptor_digest(&entry.target)?;
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
        rows.push([
            entry.name.familiar_repository(),
            entry.name.tag().unwrap_or("<none>").to_string(),
            image_id.short().to_string(),
            created.unwrap_or_else(|| "N/A".to_string()),
            human_size(size),
            platforms.join(","),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[[String; COLUMNS]]) {
    let mut widths = [0usize; COLUMNS];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
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
    }
}

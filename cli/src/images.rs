//! `rbuild images`: the named images in the store, as `docker images` shows them.

use anyhow::Result;
use rbuild_cache::Store;
use rbuild_solver::manifest_config;

/// Prints REPOSITORY, TAG, IMAGE ID, CREATED and SIZE for each image.
pub fn run(store: &Store) -> Result<()> {
    let mut rows = vec![[
        "REPOSITORY".to_string(),
        "TAG".to_string(),
        "IMAGE ID".to_string(),
        "CREATED".to_string(),
        "SIZE".to_string(),
    ]];
    for entry in store.images().list()? {
        let (image_id, config) = manifest_config(store, &entry.target)?;
        let size: u64 = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| store.layers().layer_size(d).unwrap_or(0))
            .sum();
        rows.push([
            entry.name.familiar_repository(),
            entry.name.tag().unwrap_or("<none>").to_string(),
            image_id.short().to_string(),
            config.created.clone().unwrap_or_else(|| "N/A".to_string()),
            human_size(size),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn print_table(rows: &[[String; 5]]) {
    let mut widths = [0usize; 5];
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

//! Seeded fuzzing of the `.dockerignore` reader and matcher: the lines of
//! testdata/dockerignore/cases.txt, mutated with pattern metacharacters, then matched against
//! paths drawn from the same alphabet. Nothing may panic and matching must stay fast (the
//! glob matcher never backtracks exponentially). `scripts/fuzz` runs it with more cases
//! (PROPTEST_CASES).

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rbuild_fileop::{glob_match, parse_ignore_file, PathPatterns};

fn seed_lines() -> Vec<String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dockerignore/cases.txt");
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut lines: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("> ").or_else(|| line.strip_prefix("? ")))
        .map(str::to_string)
        .collect();
    lines.extend(["**/*.go", "!a/**/b", "[a-z]?/*", "\\*x"].map(String::from));
    lines
}

const META: &[&str] = &[
    "*", "**", "?", "[", "]", "^", "-", "\\", "/", "!", ".", "..", "a", "é",
];

fn mutated_line() -> impl Strategy<Value = (prop::sample::Index, Vec<(usize, &'static str)>)> {
    (
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<usize>(), prop::sample::select(META)), 0..6),
    )
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_ignore_files_never_panic(
        lines in prop::collection::vec(mutated_line(), 1..8),
        paths in prop::collection::vec(prop::collection::vec(prop::sample::select(META), 1..8), 1..8),
    ) {
        let seeds = seed_lines();
        let mut text = String::new();
        for (pick, inserts) in lines {
            let mut line: Vec<char> = seeds[pick.index(seeds.len())].chars().collect();
            for (at, piece) in inserts {
                let at = at % (line.len() + 1);
                line.splice(at..at, piece.chars());
            }
            text.extend(line);
            text.push('\n');
        }
        let started = Instant::now();
        let patterns = parse_ignore_file(&text);
        for pattern in &patterns {
            for path in &paths {
                let _ = glob_match(pattern, &path.concat());
            }
        }
        if let Ok(set) = PathPatterns::new(&patterns) {
            for path in &paths {
                let path = path.join("/");
                let _ = set.is_excluded(&path);
            }
        }
        prop_assert!(started.elapsed() < Duration::from_secs(2), "slow match for {:?}", text);
    }
}

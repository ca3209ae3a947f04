//! Seeded byte-level fuzzing of the Dockerfile decoder, parser, dump and shell lexer: every
//! BuildKit golden file (../shared/conformance/buildkit) and testdata Dockerfile, mutated by
//! inserted, deleted, replaced and duplicated bytes. Nothing may panic. `scripts/fuzz` runs
//! it with more cases (PROPTEST_CASES).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rbuild_frontend::dump::dump;
use rbuild_frontend::shell::ShellLex;
use rbuild_frontend::{decode_dockerfile, parse};

fn files_below(root: &Path, out: &mut Vec<PathBuf>) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    files_below(
        &manifest.join("../../../shared/conformance/buildkit"),
        &mut paths,
    );
    files_below(&manifest.join("../../testdata"), &mut paths);
    paths.sort();
    let mut seeds: Vec<Vec<u8>> = paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|bytes| bytes.len() < 64 * 1024)
        .collect();
    seeds.push(b"FROM a\nRUN echo ${x:-${y:+$z}}\n".to_vec());
    seeds
}

/// One edit at a position (taken modulo the length).
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop_oneof![
        any::<u8>(),
        Just(b'\n'),
        Just(b'\\'),
        Just(b'$'),
        Just(b'{'),
        Just(b'}'),
        Just(b'"'),
        Just(b'<'),
        Just(b'['),
        Just(0xff),
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), interesting).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Duplicate(at, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len().max(1);
        match *edit {
            Edit::Insert(at, b) => bytes.insert(at % (bytes.len() + 1), b),
            Edit::Delete(at) if !bytes.is_empty() => {
                bytes.remove(at % len);
            }
            Edit::Replace(at, b) if !bytes.is_empty() => bytes[at % len] = b,
            Edit::Duplicate(at, n) if !bytes.is_empty() => {
                let start = at % len;
                let end = (start + n).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(start..start, copy);
            }
            _ => {}
        }
    }
    bytes
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn mutated_dockerfiles_never_panic(pick in any::<prop::sample::Index>(), edits in prop::collection::vec(edit(), 0..12)) {
        let seeds = seeds();
        let bytes = apply(seeds[pick.index(seeds.len())].clone(), &edits);
        let text = match decode_dockerfile(bytes.clone()) {
            Ok(text) => text,
            Err(e) => {
                prop_assert!(e.line >= 1);
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        if let Ok(parsed) = parse(&text) {
            let _ = dump(&parsed);
        }
        let env: BTreeMap<String, String> =
            [("x".to_string(), "1".to_string()), ("a".to_string(), String::new())].into();
        for line in text.lines().take(200) {
            for escape in ['\\', '`'] {
                let lex = ShellLex::new(escape);
                let _ = lex.process_word_tracking(line, &env);
                let _ = lex.clone().skip_unset_env(true).raw_quotes(true).process_words(line, &env);
            }
        }
    }
}

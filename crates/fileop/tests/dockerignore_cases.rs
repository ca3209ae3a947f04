//! Runs the .dockerignore case table in testdata/dockerignore/cases.txt (format described at
//! its top) through `parse_ignore_file` and `PathPatterns`.

use std::path::PathBuf;

use rbuild_fileop::{parse_ignore_file, PathPatterns};

enum Expect {
    Excluded(String),
    Included(String),
    Invalid,
}

struct Case {
    line: usize,
    ignore_file: String,
    expectations: Vec<Expect>,
}

fn read_cases() -> Vec<Case> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dockerignore/cases.txt");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {path:?}: {err}"));
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            cases.extend(current.take());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let case = current.get_or_insert_with(|| Case {
            line: index + 1,
            ignore_file: String::new(),
            expectations: Vec::new(),
        });
        if let Some(pattern_line) = line.strip_prefix('>') {
            case.ignore_file
                .push_str(pattern_line.strip_prefix(' ').unwrap_or(pattern_line));
            case.ignore_file.push('\n');
        } else if let Some(path) = line.strip_prefix("excluded ") {
            case.expectations.push(Expect::Excluded(path.to_string()));
        } else if let Some(path) = line.strip_prefix("included ") {
            case.expectations.push(Expect::Included(path.to_string()));
        } else if line == "invalid" {
            case.expectations.push(Expect::Invalid);
        } else {
            panic!("cases.txt line {}: cannot read {line:?}", index + 1);
        }
    }
    cases.extend(current);
    cases
}

#[test]
fn dockerignore_case_table() {
    let cases = read_cases();
    let checked: usize = cases.iter().map(|case| case.expectations.len()).sum();
    assert!(
        checked >= 60,
        "the table should hold at least 60 cases, it has {checked}"
    );
    let mut failures = Vec::new();
    for case in &cases {
        let patterns = parse_ignore_file(&case.ignore_file);
        let compiled = PathPatterns::new(&patterns);
        for expect in &case.expectations {
            let outcome = match (expect, &compiled) {
                (Expect::Invalid, Err(_)) => continue,
                (Expect::Invalid, Ok(_)) => "compiled, but should be rejected".to_string(),
                (_, Err(err)) => format!("failed to compile: {err}"),
                (Expect::Excluded(path), Ok(p)) if p.is_excluded(path) => continue,
                (Expect::Excluded(path), Ok(_)) => format!("{path:?} should be excluded"),
                (Expect::Included(path), Ok(p)) if !p.is_excluded(path) => continue,
                (Expect::Included(path), Ok(_)) => format!("{path:?} should be included"),
            };
            failures.push(format!(
                "case at line {} ({patterns:?}): {outcome}",
                case.line
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

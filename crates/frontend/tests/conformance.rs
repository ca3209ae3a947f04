//! BuildKit's own golden corpora (parser test files, shell lexer tables), run against our
//! parser, AST dump and shell lexer. The data lives in the shared folder beside the repo.

use std::fs;
use std::path::{Path, PathBuf};

use rbuild_frontend::dump::dump;
use rbuild_frontend::parse;
use rbuild_frontend::shell::{ShellLex, VarLookup};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/buildkit"
);

fn corpus(path: &str) -> PathBuf {
    Path::new(CORPUS).join(path)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn case_dirs(dir: &str) -> Vec<PathBuf> {
    let entries = fs::read_dir(corpus(dir)).unwrap_or_else(|err| panic!("{dir}: {err}"));
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn parser_testfiles_dump_like_buildkit() {
    let dirs = case_dirs("parser/testfiles");
    assert_eq!(dirs.len(), 33);
    let mut mismatches = Vec::new();
    for dir in &dirs {
        let source = read(&dir.join("Dockerfile"));
        let expected = read(&dir.join("result"));
        match parse(&source) {
            Ok(file) if dump(&file) + "\n" == expected => {}
            Ok(file) => mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{}\n",
                dir.display(),
                dump(&file)
            )),
            Err(err) => mismatches.push(format!("{}: {err}", dir.display())),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn negative_testfiles_are_rejected() {
    let dirs = case_dirs("parser/testfiles-negative");
    assert_eq!(dirs.len(), 4);
    for dir in dirs {
        let source = read(&dir.join("Dockerfile"));
        let lines = rbuild_frontend::parser::line_count(&source).max(1);
        match parse(&source) {
            Ok(file) => panic!("{} parsed: {file:?}", dir.display()),
            Err(err) => assert!(
                err.line >= 1 && err.line <= lines,
                "{}: {err}",
                dir.display()
            ),
        }
    }
}

#[test]
fn instruction_spans_match_buildkit() {
    let source = read(&corpus("parser/testfile-line/Dockerfile"));
    let file = parse(&source).unwrap_or_else(|err| panic!("{err}"));
    let spans: Vec<(usize, usize)> = file
        .instructions
        .iter()
        .map(|node| (node.start_line, node.end_line))
        .collect();
    assert_eq!(spans, [(5, 5), (11, 12), (17, 31)]);
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn shell_env_var_table() {
    let env = owned(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let lex = ShellLex::new('\\');
    let mut checked = 0;
    let mut failures = Vec::new();
    for (index, line) in read(&corpus("shell/envVarTest")).lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        let [platform, source, expected] = fields[..] else {
            panic!("line {}: {line}", index + 1);
        };
        if platform.trim() == "W" {
            continue;
        }
        let (source, expected) = (source.trim(), expected.trim());
        let got = lex.process_word(source, &env as &dyn VarLookup);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(value), _) => expected != "error" && value == expected,
            (Err(_), _) => false,
        };
        if !ok {
            failures.push(format!(
                "line {}: {source:?} → {got:?}, want {expected:?}",
                index + 1
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, 228, "every A and U line is checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shell_words_table() {
    let lex = ShellLex::new('\\');
    let mut env: Vec<(String, String)> = Vec::new();
    let mut failures = Vec::new();
    for (index, line) in read(&corpus("shell/wordsTest")).lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(assignment) = line.strip_prefix("ENV ") {
            let assignment = assignment.trim_start_matches(' ');
            let (key, value) = assignment.split_once('=').unwrap_or((assignment, ""));
            env.push((key.to_string(), value.to_string()));
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        let [test, expected] = fields[..] else {
            panic!("line {}: {line}", index + 1);
        };
        let expected: Vec<String> = expected
            .trim_start_matches(' ')
            .split(',')
            .map(String::from)
            .collect();
        let got = lex
            .process_words(test.trim(), &env)
            .unwrap_or_else(|_| vec!["error".to_string()]);
        if got != expected {
            failures.push(format!(
                "line {}: {test:?} → {got:?}, want {expected:?}",
                index + 1
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

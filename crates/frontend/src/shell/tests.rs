//! Unit tests of the lexer's modifiers, tracking and options (the BuildKit corpora run in
//! tests/conformance.rs).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|name| name.to_string()).collect()
}

fn expand(word: &str, vars: &[(&str, &str)]) -> Result<Expansion, ShellError> {
    ShellLex::new('\\').process_word_tracking(word, &env(vars))
}

#[track_caller]
fn check(word: &str, vars: &[(&str, &str)], expected: &str, matched: &[&str], unmatched: &[&str]) {
    match expand(word, vars) {
        Ok(expansion) => {
            assert_eq!(expansion.value, expected, "{word}");
            assert_eq!(expansion.matched, names(matched), "{word} matched");
            assert_eq!(expansion.unmatched, names(unmatched), "{word} unmatched");
        }
        Err(err) => panic!("{word}: {err}"),
    }
}

#[test]
fn default_and_alternative_values() {
    let vars = [("FOO", "xxx"), ("BAR", "")];
    check(
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        &vars,
        "xxx  ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check(
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        &vars,
        "xxx bbb ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check(
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        &vars,
        "aaa bbb ",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check(
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        &vars,
        "aaa  ",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check("${FOO:-}", &[], "", &[], &["FOO"]);
}

#[test]
fn required_values() {
    let vars = [("FOO", "xxx"), ("BAR", "")];
    check("${FOO?aaa}", &vars, "xxx", &["FOO"], &[]);
    check("${BAR?bbb}", &vars, "", &["BAR"], &[]);
    check("${FOO:?aaa}", &vars, "xxx", &["FOO"], &[]);
    for word in ["${BAZ?ccc}", "${BAR:?bbb}", "${BAZ:?ccc}", "${BAZ:?}"] {
        assert!(
            matches!(
                expand(word, &vars),
                Err(ShellError::RequiredVariable { .. })
            ),
            "{word}"
        );
    }
    let message = match expand("${VAR:?message here$ARG}", &[("VAR", ""), ("ARG", "x")]) {
        Err(err) => err.to_string(),
        Ok(ok) => panic!("expanded to {ok:?}"),
    };
    assert_eq!(
        message,
        "failed to process \"${VAR:?message here$ARG}\": VAR: message herex"
    );
}

#[test]
fn unsupported_modifiers_fail() {
    for word in [
        "${FOO=aaa}",
        "${FOO=:aaa}",
        "${FOO=}",
        "${FOO:#x}",
        "${FOO:%x}",
        "${FOO//ww}",
        "${FOO//}",
    ] {
        assert!(
            matches!(expand(word, &[("FOO", "xxyy")]), Err(ShellError::Syntax(_))),
            "{word}"
        );
    }
}

#[test]
fn prefix_and_suffix_removal() {
    let foo = |value| [("FOO", value)];
    check(
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &foo("()[]{}^$.*?|\\x"),
        "x",
        &["FOO"],
        &[],
    );
    check("${FOO%%\\**}", &foo("xx**"), "xx", &["FOO"], &[]);
    check("${FOO#*x*y}", &foo("xxyy"), "y", &["FOO"], &[]);
    check("${FOO#*}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check("${FOO#}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check("${FOO##*x}", &foo("xxyy"), "yy", &["FOO"], &[]);
    check("${FOO##}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check("${FOO#?\\?}", &foo("???y"), "?y", &["FOO"], &[]);
    check("${FOO%%\\**\\*}", &foo("a***yy*"), "a", &["FOO"], &[]);
    check("${FOO%}", &foo("xxyy"), "xxyy", &["FOO"], &[]);
    check(
        "${ABC:-.}${FOO%x}${ABC:-.}",
        &foo("xxyy"),
        ".xxyy.",
        &["FOO"],
        &["ABC"],
    );
    check(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        "xyy",
        &["FOO", "BAR"],
        &[],
    );
    check(
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    );
}

#[test]
fn pattern_replacement() {
    let needle = [("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")];
    check(
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &needle,
        "/foo.*/*.txt - /foo..*.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    let tmp = [("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")];
    check(
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &tmp,
        "/tmp/bar.txt - /bar.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    let url = [
        ("FOO", "http://google.de"),
        ("NEEDLE", "http://"),
        ("R", "https://"),
    ];
    check(
        "${FOO/$NEEDLE/$R}",
        &url,
        "https://google.de",
        &["FOO", "NEEDLE", "R"],
        &[],
    );
    check(
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        "\\/tmp\\/foo.txt",
        &["FOO"],
        &[],
    );
    check(
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "wwxxyy",
        &["FOO", "BAR"],
        &[],
    );
    check("${FOO///}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check("${FOO///}", &[], "", &[], &["FOO"]);
}

#[test]
fn platform_style_names() {
    let vars = [
        ("VERSION", "v1.2.3"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "arm"),
        ("TARGETVARIANT", "v7"),
    ];
    let word =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    check(
        word,
        &vars,
        "something-v1.2.3.linux-arm-v7.tar.gz",
        &["VERSION", "TARGETOS", "TARGETARCH", "TARGETVARIANT"],
        &[],
    );
}

#[test]
fn lookups_of_every_environment_shape() {
    let lex = ShellLex::new('\\');
    let hash: HashMap<String, String> = [("A".to_string(), "1".to_string())].into();
    let list = vec![
        ("A".to_string(), "1".to_string()),
        ("A".to_string(), "2".to_string()),
    ];
    assert_eq!(lex.process_word("$A", &hash).ok(), Some("1".into()));
    assert_eq!(lex.process_word("$A", &list).ok(), Some("2".into()));
    assert_eq!(list.as_slice().lookup("A"), Some("2"));
    assert_eq!(list.as_slice().lookup("B"), None);
}

#[test]
fn backtick_escape() {
    let lex = ShellLex::new('`');
    let vars = env(&[("A", "x")]);
    assert_eq!(
        lex.process_word("`$A\\$A", &vars).ok(),
        Some("$A\\x".into())
    );
    assert_eq!(lex.process_word("\"`\"\"", &vars).ok(), Some("\"".into()));
}

#[test]
fn options_keep_quotes_escapes_and_unset_references() {
    let lex = ShellLex::new('\\')
        .raw_quotes(true)
        .raw_escapes(true)
        .skip_unset_env(true);
    let words = lex.process_words(
        "RUN <<'EOF' 3<<  \"X\" a\\ b $U ${U:-d} ${U/a/b}",
        &env(&[]),
    );
    assert_eq!(
        words.ok(),
        Some(vec![
            "RUN".to_string(),
            "<<'EOF'".into(),
            "3<<  \"X\"".into(),
            "a\\ b".into(),
            "$U".into(),
            "${U:-d}".into(),
            "${U/a/b}".into(),
        ])
    );
}

#[test]
fn skip_process_quotes_leaves_quotes_alone() {
    let lex = ShellLex::new('\\').skip_process_quotes(true);
    let vars = env(&[("NAME", "me")]);
    assert_eq!(
        lex.process_word("echo 'hi $NAME' \"$NAME\"", &vars).ok(),
        Some("echo 'hi me' \"me\"".into())
    );
}

#[test]
fn leading_byte_order_mark_is_skipped() {
    let lex = ShellLex::new('\\');
    assert_eq!(
        lex.process_word("\u{feff}a b", &env(&[])).ok(),
        Some("a b".into())
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}x{}", "${a:-".repeat(9000), "}".repeat(9000));
    let err = expand(&deep, &[]).unwrap_err().to_string();
    assert!(err.contains("nested more than 100 deep"), "{err}");
    assert!(err.len() < 400, "the message quotes only the start: {err}");
    let fine = format!("{}x{}", "${a:-".repeat(90), "}".repeat(90));
    check(&fine, &[], "x", &[], &["a"]);
}

#[test]
fn expansion_size_is_bounded() {
    let big = "a".repeat(300 * 1024);
    let err = expand("$v$v$v$v", &[("v", &big)]).unwrap_err().to_string();
    assert!(err.contains("longer than 1 MiB"), "{err}");
    let err = expand("\"$v$v$v$v\"", &[("v", &big)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("longer than 1 MiB"), "{err}");
    let err = expand("${v//a/$v}", &[("v", &big)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("longer than 1 MiB"), "{err}");
    assert_eq!(
        expand("$v$v$v", &[("v", &big)]).unwrap().value.len(),
        900 * 1024
    );
}

//! Property tests: the parser, the dump, the diagnostics and the shell lexer never panic on
//! arbitrary input, and every parse error and node span stays within the input's lines.

use proptest::prelude::*;
use rbuild_frontend::diagnostic::Diagnostic;
use rbuild_frontend::dump::dump;
use rbuild_frontend::parse;
use rbuild_frontend::parser::line_count;
use rbuild_frontend::shell::ShellLex;

const DOCKERFILE_TOKENS: &[&str] = &[
    "FROM",
    "run",
    "COPY",
    "ADD",
    "ONBUILD",
    "ENV",
    "LABEL",
    "HEALTHCHECK",
    "ARG",
    "CMD",
    "SHELL",
    "EXPOSE",
    "x",
    "a=b",
    " ",
    "  ",
    "\t",
    "\n",
    "\n",
    "\r\n",
    "\\",
    "\\\n",
    "`",
    "'",
    "\"",
    "<<",
    "<<-",
    "<<'EOF'",
    "3<<",
    "EOF",
    "\nEOF\n",
    "[",
    "]",
    "[\"a\"]",
    ",",
    "=",
    "--",
    "--mount=type=cache",
    "#",
    "# escape=`",
    "# escape=\\",
    "# syntax=x",
    "# check=skip=all",
    "$",
    "${",
    "}",
    "é",
    "\u{feff}",
    "\u{a0}",
    "\u{85}",
    "[[1]]",
];

const SHELL_TOKENS: &[&str] = &[
    "$", "${", "{", "}", ":", ":-", ":+", ":?", "-", "+", "?", "#", "##", "%", "%%", "/", "//",
    "*", "\\", "`", "'", "\"", "a", "A", "PWD", "0", "@", " ", "\t", "<", "<<", "é", "\u{feff}",
];

fn joined(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 0..max).prop_map(|parts| parts.concat())
}

fn dockerfile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..400)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        joined(DOCKERFILE_TOKENS, 80),
    ]
}

fn shell_word() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), joined(SHELL_TOKENS, 40)]
}

/// Parses, checks every reported line against the input, and renders whatever came out.
fn check_parse(source: &str) -> Result<(), TestCaseError> {
    let lines = line_count(source);
    match parse(source) {
        Ok(file) => {
            for node in &file.instructions {
                prop_assert!(1 <= node.start_line && node.start_line <= node.end_line);
                prop_assert!(node.end_line <= lines, "{node:?} beyond {lines} lines");
            }
            for warning in &file.warnings {
                prop_assert!(1 <= warning.line && warning.line <= lines);
            }
            let _ = dump(&file);
        }
        Err(err) => {
            let last = lines.max(1);
            prop_assert!(
                1 <= err.line && err.line <= last,
                "{err} with {lines} lines"
            );
            prop_assert!(err.line <= err.end_line && err.end_line <= last, "{err:?}");
            let _ = Diagnostic::from_parse_error("Dockerfile", source, &err).render();
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics_and_lines_stay_in_range(source in dockerfile_text()) {
        check_parse(&source)?;
    }

    #[test]
    fn shell_lexer_never_panics(
        word in shell_word(),
        backtick in any::<bool>(),
        options in any::<[bool; 4]>(),
    ) {
        let env = vec![
            ("PWD".to_string(), "/home".to_string()),
            ("A".to_string(), "a b*".to_string()),
            ("EMPTY".to_string(), String::new()),
        ];
        let lex = ShellLex::new(if backtick { '`' } else { '\\' })
            .raw_quotes(options[0])
            .raw_escapes(options[1])
            .skip_process_quotes(options[2])
            .skip_unset_env(options[3]);
        let tracked = lex.process_word_tracking(&word, &env);
        let words = lex.process_words(&word, &env);
        prop_assert_eq!(tracked.is_ok(), words.is_ok());
        if let Ok(expansion) = tracked {
            prop_assert!(expansion.matched.is_disjoint(&expansion.unmatched));
        }
    }
}

#[test]
fn empty_input_errors_on_line_one() {
    let err = parse("").err();
    assert_eq!(err.map(|e| e.line), Some(1));
}

//! Lowering errors: each names the Dockerfile line (and column where it can), the cause,
//! and a "did you mean" for misspelled stages, instructions and flags.

mod support;

use rbuild_frontend::FrontendError;
use support::*;

/// (line, column, message, help) of the error lowering `dockerfile` gives.
fn located(
    dockerfile: &str,
    options: &rbuild_frontend::BuildOptions,
) -> (usize, Option<usize>, String, Option<String>) {
    let error = lower_err(dockerfile, options);
    let d = error.diagnostic();
    assert_eq!(d.file, options.dockerfile_name);
    (d.line, d.column, d.message, d.help)
}

#[test]
fn misspellings_get_a_suggestion_on_the_right_line() {
    struct Case {
        dockerfile: &'static str,
        target: Option<&'static str>,
        line: usize,
        message: &'static str,
        help: &'static str,
    }
    let cases = [
        Case {
            dockerfile: "FROM busybox\nRUNN make\n",
            target: None,
            line: 2,
            message: "unknown instruction: RUNN",
            help: "did you mean RUN?",
        },
        Case {
            dockerfile: "FROM busybox AS build\nFROM busybox\nCOPY --form=build /a /a\n",
            target: None,
            line: 3,
            message: "unknown flag: form",
            help: "did you mean --from?",
        },
        Case {
            dockerfile: "FROM busybox AS build\nRUN x\nFROM busybox\nCOPY --from=biuld /a /a\n",
            target: None,
            line: 4,
            message: "biuld",
            help: "did you mean \"build\"?",
        },
        Case {
            dockerfile: "FROM busybox AS build\nRUN x\nFROM biuld\n",
            target: None,
            line: 3,
            message: "not found in the local store",
            help: "did you mean \"build\"?",
        },
        Case {
            dockerfile: "FROM busybox AS build\nRUN x\nFROM busybox AS test\n",
            target: Some("bulid"),
            line: 1,
            message: "target stage \"bulid\" could not be found",
            help: "did you mean \"build\"?",
        },
        Case {
            dockerfile: "FROM busybox\nRUN --mount=type=cahce,target=/c make\n",
            target: None,
            line: 2,
            message: "unsupported mount type \"cahce\"",
            help: "did you mean cache?",
        },
    ];
    for case in cases {
        let mut options = options();
        options.target = case.target.map(str::to_string);
        let (line, _, message, help) = located(case.dockerfile, &options);
        assert_eq!(line, case.line, "{}", case.dockerfile);
        assert!(
            message.contains(case.message),
            "{message:?} for {}",
            case.dockerfile
        );
        assert_eq!(help.as_deref(), Some(case.help), "{}", case.dockerfile);
    }
}

#[test]
fn columns_point_at_the_offending_word() {
    let (line, column, _, _) = located(
        "FROM busybox AS build\nRUN x\nFROM busybox\nCOPY --from=biuld /a /a\n",
        &options(),
    );
    assert_eq!((line, column), (4, Some(13)));
    let (line, column, message, _) = located("FROM busybox\nCOPY --chmod=u+x a /a\n", &options());
    assert_eq!((line, column), (2, Some(14)));
    assert!(
        message.contains("invalid chmod parameter: 'u+x'"),
        "{message}"
    );
}

#[test]
fn invalid_instructions_are_rejected_with_their_line() {
    let cases = [
        ("RUN x\n", 1, "no build stage in current context"),
        ("FROM busybox\nEXPOSE 80/icmp\n", 2, "invalid proto: icmp"),
        (
            "FROM busybox\nSTOPSIGNAL SIGNOPE\n",
            2,
            "Invalid signal: SIGNOPE",
        ),
        (
            "FROM busybox\nWORKDIR $EMPTY\n",
            2,
            "cannot normalize nothing",
        ),
        (
            "FROM busybox AS a\nFROM busybox\nCOPY --from=2 /x /x\n",
            3,
            "invalid stage index 2",
        ),
        (
            "ARG IMG\nFROM $IMG\n",
            2,
            "base name ($IMG) should not be blank",
        ),
        (
            "FROM --platform=linux/ busybox\n",
            1,
            "failed to parse platform",
        ),
        (
            "FROM busybox\nCOPY --from=$X /a /a\n",
            2,
            "variable expansion is not supported for --from",
        ),
        (
            "FROM busybox\nRUN --network=bridge x\n",
            2,
            "unsupported network mode",
        ),
        (
            "FROM busybox\nADD --checksum=sha256:abc a.tar /\n",
            2,
            "checksum requires HTTP(S) or Git sources",
        ),
        (
            "FROM busybox\nCOPY https://example.com/a /a\n",
            2,
            "source can't be a URL for COPY",
        ),
        (
            "FROM busybox\nCOPY git@github.com:moby/buildkit.git /src\n",
            2,
            "source can't be a git ref for COPY",
        ),
        (
            "FROM busybox\nADD --checksum=sha256:abc https://example.com/a /a\n",
            2,
            "invalid checksum \"sha256:abc\"",
        ),
        (
            "FROM busybox\nADD --checksum=abcdef1 https://h/a https://h/b /d/\n",
            2,
            "checksum can't be specified for multiple sources",
        ),
        (
            "FROM busybox\nADD https://h/r.git?color=red /src\n",
            2,
            "unexpected query \"color\"",
        ),
    ];
    for (dockerfile, line, message) in cases {
        let (got_line, _, got_message, _) = located(dockerfile, &options());
        assert_eq!(got_line, line, "{dockerfile}");
        assert!(
            got_message.contains(message),
            "{got_message:?} for {dockerfile}"
        );
    }
}

#[test]
fn stages_can_only_read_earlier_stages() {
    let mut options = options();
    options.target = Some("first".into());
    let (line, _, message, _) = located(
        "FROM busybox AS first\nCOPY --from=later /x /x\nFROM busybox AS later\n",
        &options,
    );
    assert_eq!(line, 2);
    assert!(
        message.contains("needs to be defined before current stage \"first\""),
        "{message}"
    );
}

#[test]
fn unsupported_features_say_so() {
    let error = lower_err("FROM busybox\nRUN --security=insecure x\n", &options());
    assert!(matches!(error, FrontendError::Unsupported(_)), "{error:?}");
    assert_eq!(error.diagnostic().line, 2);
}

#[test]
fn errors_display_their_location() {
    let error = lower_err("FROM busybox\nRUNN make\n", &options());
    assert!(matches!(error, FrontendError::Instruction(_)));
    let text = error.to_string();
    assert!(text.starts_with("Dockerfile:2"), "{text}");
    let rendered = error.diagnostic().render();
    assert!(rendered.contains("RUNN make"), "{rendered}");
}

#[test]
fn mixed_sources_lower_to_one_copy_with_further_parts() {
    use rbuild_graph::{CopySource, Op};
    for (dockerfile, first, more) in [
        (
            "FROM busybox\nADD https://example.com/a.tgz local.txt /opt/\n",
            "context",
            vec!["remote"],
        ),
        (
            "FROM busybox\nADD git@github.com:moby/buildkit.git <<EOF /src/\nhi\nEOF\n",
            "remote",
            vec!["inline"],
        ),
        (
            "FROM busybox\nCOPY <<a.txt f https://x.example/ignored-by-copy-check /d/\nA\na.txt\n",
            "",
            vec![],
        ),
        (
            "FROM busybox\nCOPY <<a.txt <<b.txt file /d/\nA\na.txt\nB\nb.txt\n",
            "context",
            vec!["inline"],
        ),
    ] {
        let kind = |source: &CopySource| match source {
            CopySource::Context { .. } => "context",
            CopySource::Vertex(_) => "vertex",
            CopySource::Inline(_) => "inline",
            CopySource::Remote(_) => "remote",
        };
        if first.is_empty() {
            let error = lower_err(dockerfile, &options());
            assert!(matches!(error, FrontendError::Instruction(_)), "{error:?}");
            continue;
        }
        let def = lower(dockerfile);
        let Op::Copy(copy) = &def.graph.vertex(def.target).op else {
            panic!("{dockerfile}: not a copy");
        };
        assert_eq!(kind(&copy.source), first, "{dockerfile}");
        let more_kinds: Vec<&str> = copy.more.iter().map(|p| kind(&p.source)).collect();
        assert_eq!(more_kinds, more, "{dockerfile}");
    }
}

//! Instruction parsing on hand-built syntax-tree nodes (independent of the parser).

use super::*;
use crate::ast::Heredoc;

fn node(keyword: &str, flags: &[&str], args: &[&str]) -> Node {
    Node {
        keyword: keyword.to_string(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        original: format!("{} {}", keyword.to_uppercase(), args.join(" ")),
        start_line: 1,
        end_line: 1,
        ..Node::default()
    }
}

fn json(mut n: Node) -> Node {
    n.json = true;
    n
}

#[test]
fn from_with_stage_name_and_platform() {
    let parsed = parse_instruction(node(
        "from",
        &["--platform=$BUILDPLATFORM"],
        &["golang:1.22", "AS", "Build"],
    ))
    .unwrap();
    assert_eq!(
        parsed,
        Instruction::From(FromInstruction {
            base: "golang:1.22".into(),
            name: Some("build".into()),
            platform: Some("$BUILDPLATFORM".into()),
        })
    );
    assert!(parse_instruction(node("from", &[], &["a", "b"])).is_err());
    let fault = parse_instruction(node("from", &[], &["a", "as", "1st"])).unwrap_err();
    assert!(
        fault.message.contains("invalid name for build stage"),
        "{fault:?}"
    );
}

#[test]
fn arg_env_and_label_pairs() {
    let parsed = parse_instruction(node("arg", &[], &["A=1", "B"])).unwrap();
    assert_eq!(
        parsed,
        Instruction::Arg(vec![
            ArgDeclaration {
                key: "A".into(),
                default: Some("1".into())
            },
            ArgDeclaration {
                key: "B".into(),
                default: None
            },
        ])
    );
    assert!(parse_instruction(node("arg", &[], &["=x"])).is_err());
    let parsed = parse_instruction(node("env", &[], &["A", "1", "=", "B", "x y", ""])).unwrap();
    assert_eq!(
        parsed,
        Instruction::Env(vec![
            KeyValue {
                key: "A".into(),
                value: "1".into()
            },
            KeyValue {
                key: "B".into(),
                value: "x y".into()
            },
        ])
    );
    assert!(parse_instruction(node("label", &[], &["a", "b"])).is_err());
    assert!(parse_instruction(node("env", &["--x=1"], &["A", "1", "="])).is_err());
}

#[test]
fn run_flags_and_command_forms() {
    let parsed = parse_instruction(node(
        "run",
        &["--mount=type=cache,target=/c", "--network=none"],
        &["make all"],
    ))
    .unwrap();
    let Instruction::Run(run) = parsed else {
        panic!("not a RUN")
    };
    assert_eq!(run.mounts, vec!["type=cache,target=/c"]);
    assert_eq!(run.network.as_deref(), Some("none"));
    assert!(run.command.shell_form);
    assert_eq!(run.command.args, vec!["make all"]);

    let parsed = parse_instruction(json(node("cmd", &[], &["sh", "-c", "x"]))).unwrap();
    assert_eq!(
        parsed,
        Instruction::Cmd(CommandLine {
            args: vec!["sh".into(), "-c".into(), "x".into()],
            shell_form: false,
            heredocs: Vec::new(),
        })
    );
    let fault = parse_instruction(node("run", &["--mout=type=bind"], &["x"])).unwrap_err();
    assert_eq!(fault.help.as_deref(), Some("did you mean --mount?"));
}

#[test]
fn shell_requires_json() {
    assert!(parse_instruction(json(node("shell", &[], &["/bin/bash", "-c"]))).is_ok());
    let fault = parse_instruction(node("shell", &[], &["/bin/bash -c"])).unwrap_err();
    assert!(fault.message.contains("JSON form"));
}

#[test]
fn healthcheck_forms_and_flags() {
    let parsed = parse_instruction(node(
        "healthcheck",
        &[
            "--interval=5m",
            "--timeout=3s",
            "--retries=3",
            "--start-period=1.5s",
        ],
        &["CMD", "curl -f http://localhost/"],
    ))
    .unwrap();
    let Instruction::Healthcheck(health) = parsed else {
        panic!("not a HEALTHCHECK")
    };
    assert_eq!(
        health.test,
        Some(vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()])
    );
    assert_eq!(health.interval, Some(300_000_000_000));
    assert_eq!(health.timeout, Some(3_000_000_000));
    assert_eq!(health.start_period, Some(1_500_000_000));
    assert_eq!(health.start_interval, None);
    assert_eq!(health.retries, Some(3));

    let Instruction::Healthcheck(none) =
        parse_instruction(node("healthcheck", &[], &["none"])).unwrap()
    else {
        panic!("not a HEALTHCHECK")
    };
    assert_eq!(none.test, Some(vec!["NONE".into()]));
    let exec = parse_instruction(json(node("healthcheck", &[], &["CMD", "true"]))).unwrap();
    assert!(
        matches!(exec, Instruction::Healthcheck(h) if h.test == Some(vec!["CMD".into(), "true".into()]))
    );

    for (flags, args) in [
        (&["--interval=10us"][..], &["CMD", "x"][..]),
        (&["--retries=-1"][..], &["CMD", "x"][..]),
        (&["--interval=soon"][..], &["CMD", "x"][..]),
        (&[][..], &["PING", "x"][..]),
        (&[][..], &["NONE", "x"][..]),
        (&[][..], &["CMD"][..]),
    ] {
        assert!(
            parse_instruction(node("healthcheck", flags, args)).is_err(),
            "{args:?}"
        );
    }
}

#[test]
fn copy_and_add_flags() {
    let parsed = parse_instruction(node(
        "copy",
        &[
            "--from=build",
            "--chown=app:app",
            "--chmod=0755",
            "--link",
            "--exclude=*.md",
            "--parents",
        ],
        &["a", "b", "/dst/"],
    ))
    .unwrap();
    let Instruction::Copy(copy) = parsed else {
        panic!("not a COPY")
    };
    assert_eq!(copy.kind, CopyKind::Copy);
    assert_eq!(copy.sources, vec!["a", "b"]);
    assert_eq!(copy.dest, "/dst/");
    assert_eq!(copy.from.as_deref(), Some("build"));
    assert_eq!(copy.chown.as_deref(), Some("app:app"));
    assert_eq!(copy.chmod.as_deref(), Some("0755"));
    assert!(copy.link && copy.parents);
    assert_eq!(copy.excludes, vec!["*.md"]);

    assert!(parse_instruction(node("copy", &[], &["only-one"])).is_err());
    let fault = parse_instruction(node("add", &["--from=x"], &["a", "b"])).unwrap_err();
    assert_eq!(fault.message, "unknown flag: from");
    assert!(parse_instruction(node(
        "add",
        &["--checksum=sha256:x", "--keep-git-dir"],
        &["a", "b"]
    ))
    .is_ok());
}

#[test]
fn copy_heredoc_sources() {
    let mut n = node("copy", &[], &["<<EOF", "/etc/motd"]);
    n.heredocs = vec![Heredoc {
        name: "EOF".into(),
        content: "hello $USER\n".into(),
        expand: true,
        chomp: false,
        file_descriptor: None,
    }];
    let Instruction::Copy(copy) = parse_instruction(n.clone()).unwrap() else {
        panic!("not a COPY")
    };
    assert!(copy.sources.is_empty());
    assert_eq!(
        copy.inline,
        vec![InlineSource {
            name: "EOF".into(),
            content: "hello $USER\n".into(),
            expand: true
        }]
    );
    let mut n = node("copy", &[], &["a", "<<EOF"]);
    n.heredocs = vec![Heredoc::default()];
    assert!(parse_instruction(n.clone())
        .unwrap_err()
        .message
        .contains("destination"));
}

#[test]
fn single_argument_instructions() {
    for keyword in ["user", "workdir", "stopsignal", "maintainer"] {
        assert!(
            parse_instruction(node(keyword, &[], &["x"])).is_ok(),
            "{keyword}"
        );
        assert!(
            parse_instruction(node(keyword, &[], &["x", "y"])).is_err(),
            "{keyword}"
        );
    }
    assert_eq!(
        parse_instruction(node("expose", &[], &["443", "80/udp"])).unwrap(),
        Instruction::Expose(vec!["443".into(), "80/udp".into()])
    );
    assert!(parse_instruction(node("volume", &[], &[" "])).is_err());
}

#[test]
fn onbuild_checks_its_trigger() {
    let mut n = node("onbuild", &[], &[]);
    n.original = "ONBUILD RUN echo hi".into();
    n.onbuild = Some(Box::new(node("run", &[], &["echo hi"])));
    let Instruction::Onbuild(onbuild) = parse_instruction(n.clone()).unwrap() else {
        panic!("not an ONBUILD")
    };
    assert_eq!(onbuild.expression, "RUN echo hi");
    assert!(matches!(*onbuild.trigger, Instruction::Run(_)));
    for bad in ["onbuild", "from", "maintainer"] {
        n.onbuild = Some(Box::new(node(bad, &[], &["x"])));
        assert!(parse_instruction(n.clone()).is_err(), "{bad}");
    }
}

#[test]
fn unknown_instructions_suggest_a_keyword() {
    let mut n = node("runn", &[], &["make"]);
    n.original = "RUNN make".into();
    let fault = parse_instruction(n.clone()).unwrap_err();
    assert_eq!(fault.message, "unknown instruction: RUNN");
    assert_eq!(fault.help.as_deref(), Some("did you mean RUN?"));
    assert_eq!(fault.focus.as_deref(), Some("RUNN"));
}

//! Parser behaviour pinned case by case (the BuildKit golden corpus runs in
//! tests/conformance.rs).

use super::*;
use crate::ast::Heredoc;

fn parsed(source: &str) -> Dockerfile {
    match parse(source) {
        Ok(file) => file,
        Err(err) => panic!("{err}"),
    }
}

fn failure(source: &str) -> ParseError {
    match parse(source) {
        Ok(file) => panic!("parsed: {file:?}"),
        Err(err) => err,
    }
}

fn doc(name: &str, content: &str, expand: bool, chomp: bool, fd: Option<u32>) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        chomp,
        file_descriptor: fd,
    }
}

#[test]
fn warns_on_empty_continuation_lines() {
    let file = parsed(
        "\nFROM alpine:3.6\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN another \\\n\n    thing\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t",
    );
    let messages: Vec<(&str, usize)> = file
        .warnings
        .iter()
        .map(|w| (w.message.as_str(), w.line))
        .collect();
    assert_eq!(
        messages,
        [
            (
                "Empty continuation line found in: RUN something     following     more",
                8
            ),
            (
                "Empty continuation line found in: RUN another     thing",
                12
            ),
        ]
    );
    let originals: Vec<&str> = file
        .instructions
        .iter()
        .map(|n| n.original.as_str())
        .collect();
    assert_eq!(originals[3], "RUN non-indented    after-comment");
    assert_eq!(originals[4], "RUN indented     comment");
}

#[test]
fn extracts_heredocs() {
    let source = "FROM alpine\nUSER <<INVALID\nINVALID\nRUN 3<<EMPTY2\nEMPTY2\nRUN \"<<NOHEREDOC\"\nRUN <<INDENT\n\tfoo\nINDENT\nRUN <<-UNINDENT2\n\tbaz\n\t\tquux\n\tUNINDENT2\nRUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\nRUN <<COMMENT\n# internal comment\necho a # trailing\nCOMMENT\nCOPY <<X <<Y /dest\nY\nX\nX\nY\nRUN <<'one two'\necho bar\none two\nRUN <<  EOF  > foo\nEOF\n";
    let file = parsed(source);
    let heredocs: Vec<&[Heredoc]> = file
        .instructions
        .iter()
        .map(|n| n.heredocs.as_slice())
        .collect();
    assert_eq!(heredocs[1], []);
    assert_eq!(heredocs[2], []);
    assert_eq!(heredocs[3], [doc("EMPTY2", "", true, false, Some(3))]);
    assert_eq!(heredocs[4], []);
    assert_eq!(heredocs[5], [doc("INDENT", "\tfoo\n", true, false, None)]);
    assert_eq!(
        heredocs[6],
        [doc("UNINDENT2", "baz\nquux\n", true, true, None)]
    );
    assert_eq!(
        heredocs[7],
        [doc("NOEXPAND", "don't expand $NAME\n", false, true, None)]
    );
    assert_eq!(
        heredocs[8],
        [doc(
            "COMMENT",
            "# internal comment\necho a # trailing\n",
            true,
            false,
            None
        )]
    );
    assert_eq!(
        heredocs[9],
        [
            doc("X", "Y\n", true, false, None),
            doc("Y", "X\n", true, false, None)
        ]
    );
    assert_eq!(
        heredocs[10],
        [doc("one two", "echo bar\n", false, false, None)]
    );
    assert_eq!(heredocs[11], [doc("EOF", "", true, false, None)]);
    let spans: Vec<(usize, usize)> = file
        .instructions
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(spans[1..4], [(2, 2), (3, 3), (4, 5)]);
    assert_eq!(spans[9], (21, 25));
}

#[test]
fn json_form_never_takes_heredocs() {
    let file = parsed("FROM a\nRUN [\"<<EOF\"]\nCOPY [\"<<EOF\", \"/x\"]\nEOF\n");
    assert!(file.instructions.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(file.instructions.len(), 4);
}

#[test]
fn onbuild_heredocs_and_spans() {
    let file = parsed("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n");
    let node = &file.instructions[1];
    assert_eq!(node.heredocs, [doc("EOF", "echo hi\n", true, false, None)]);
    let inner = node.onbuild.as_deref();
    assert_eq!(
        inner.map(|n| (&n.heredocs, n.start_line, n.end_line)),
        Some((&node.heredocs, 2, 4))
    );
}

#[test]
fn unterminated_heredoc_is_an_error() {
    let err = failure("FROM a\nRUN <<EOF\necho\n");
    assert_eq!((err.line, err.end_line), (2, 3));
    assert_eq!(
        err.to_string(),
        "dockerfile parse error on line 2: unterminated heredoc"
    );
}

#[test]
fn crlf_bom_and_escape_directive() {
    let file = parsed("\u{feff}# escape=`\r\n\r\nFROM a\r\nRUN echo `\r\n  hi\r\nENV A=\\b\r\n");
    assert_eq!(file.escape, '`');
    assert_eq!(file.directives.len(), 1);
    let args: Vec<&[String]> = file
        .instructions
        .iter()
        .map(|n| n.args.as_slice())
        .collect();
    assert_eq!(args[1], ["echo   hi".to_string()]);
    assert_eq!(args[2], ["A".to_string(), "\\b".into(), "=".into()]);
    assert_eq!(file.instructions[1].start_line, 4);
    assert_eq!(file.instructions[1].end_line, 5);
}

#[test]
fn directives_after_instructions_are_comments() {
    let file = parsed("FROM a\n# escape=`\nRUN a \\\n b\n");
    assert_eq!(file.escape, '\\');
    assert!(file.directives.is_empty());
    assert_eq!(file.instructions[1].args, ["a  b".to_string()]);
}

#[test]
fn directive_errors() {
    let duplicate = failure("# syntax=a\n# SYNTAX=b\nFROM x\n");
    assert_eq!((duplicate.line, duplicate.column), (2, Some(3)));
    let bad = failure("# escape=x\nFROM x\n");
    assert_eq!(
        bad.kind,
        ParseErrorKind::InvalidEscapeToken { token: "x".into() }
    );
    assert_eq!(bad.line, 1);
}

#[test]
fn rejections_carry_lines() {
    let empty = failure("");
    assert_eq!(
        (empty.line, empty.kind.clone()),
        (1, ParseErrorKind::NoInstructions)
    );
    assert_eq!(failure("# a\n# b\n\n").line, 3);
    let env = failure("FROM a\n\nENV PATH\n");
    assert_eq!(
        (env.line, env.message()),
        (3, "ENV must have two arguments".to_string())
    );
    let pairs = failure("FROM a\nLABEL a=1 \\\n  b\n");
    assert_eq!((pairs.line, pairs.end_line, pairs.column), (2, 3, None));
    let single = failure("FROM a\nLABEL a=1 bad c=3\n");
    assert_eq!(single.column, Some(11));
    assert_eq!(
        single.message(),
        "Syntax error - can't find = in \"bad\". Must be of the form: name=value"
    );
    let json = failure("FROM a\nCMD [\"a\", [\"b\"]]\n");
    assert_eq!(
        (json.line, json.kind),
        (2, ParseErrorKind::JsonNotStringArray)
    );
}

#[test]
fn continuation_at_end_of_file_and_lone_escape_lines() {
    let file = parsed("FROM a\nRUN a \\");
    assert_eq!(file.instructions[1].args, ["a".to_string()]);
    let file = parsed("\\\nFROM a\n");
    assert_eq!(
        (
            file.instructions[0].start_line,
            file.instructions[0].keyword.as_str()
        ),
        (1, "from")
    );
}

#[test]
fn public_heredoc_marker() {
    let marker =
        heredoc_marker("3<<-'EOF'").map(|h| (h.name, h.expand, h.chomp, h.file_descriptor));
    assert_eq!(marker, Some(("EOF".into(), false, true, Some(3))));
    assert_eq!(heredoc_marker("<<'EOF"), None);
    assert_eq!(heredoc_marker("file.txt"), None);
}

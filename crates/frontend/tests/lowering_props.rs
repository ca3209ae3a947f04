//! Property tests: lowering never panics, whatever mix of instructions, flags, variables,
//! quotes and stage references it is given, and every error it reports points at a line
//! of the Dockerfile (or at none, 0, for `--target`).

mod support;

use proptest::prelude::*;
use rbuild_frontend::build_definition;
use support::*;

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "RUNN",
];

const WORDS: &[&str] = &[
    "busybox",
    "scratch",
    "AS",
    "build",
    "--from=build",
    "--from=0",
    "--from=9",
    "--chmod=755",
    "--chmod=x",
    "--chown=1:1",
    "--mount=type=cache,target=/c",
    "--mount=type=bind,from=build",
    "--mount=type=secret",
    "--network=none",
    "--platform=$BUILDPLATFORM",
    "--link",
    "--bogus",
    "$A",
    "${A:-x}",
    "${A:?missing}",
    "\"quoted word\"",
    "'single'",
    "A=1",
    "B=$A",
    "=",
    "80/tcp",
    "1-3",
    "[\"sh\", \"-c\"]",
    "[]",
    "<<EOF",
    "/app",
    "..",
    ".",
    "CMD",
    "NONE",
    "--interval=1s",
    "https://example.com/x",
    "\\",
    "SIGTERM",
    "*",
];

/// Well-formed lines, so that most generated files get deep into lowering.
const VALID: &[&str] = &[
    "RUN echo $A",
    "ENV A=1 B=$A",
    "ARG A=2 C",
    "WORKDIR app",
    "COPY --from=build /a /b",
    "RUN --mount=type=cache,target=/c --mount=type=bind,from=build,target=/b make",
    "EXPOSE 80 443/udp",
    "LABEL a=b",
    "USER 1000",
    "CMD [\"x\"]",
    "ENTRYPOINT run $A",
    "ONBUILD RUN echo onbuild",
    "FROM build AS next",
    "FROM scratch",
    "HEALTHCHECK --interval=5s CMD true",
    "SHELL [\"/bin/ash\", \"-c\"]",
    "VOLUME /v",
    "COPY <<EOF /x",
    "ADD a.tar /",
];

fn line() -> impl Strategy<Value = String> {
    let random = (
        prop::sample::select(KEYWORDS),
        prop::collection::vec(prop::sample::select(WORDS), 0..5),
    )
        .prop_map(|(keyword, words)| format!("{keyword} {}", words.join(" ")));
    prop_oneof![
        1 => random,
        4 => prop::sample::select(VALID).prop_map(str::to_string),
    ]
}

fn dockerfile() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 1..12).prop_map(|lines| {
        let mut text = String::from("FROM busybox AS build\n");
        for line in lines {
            text.push_str(&line);
            text.push('\n');
            if line.contains("<<EOF") {
                text.push_str("body $A\nEOF\n");
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn lowering_never_panics_and_errors_point_inside_the_file(text in dockerfile(), target in prop::option::of(prop::sample::select(&["build", "bulid", "0"][..]))) {
        let mut options = options();
        options.target = target.map(str::to_string);
        if let Err(error) = build_definition(&text, &options, &LocalImages::busybox()) {
            let diagnostic = error.diagnostic();
            prop_assert!(diagnostic.line <= text.lines().count(), "{} for\n{text}", diagnostic.render());
            prop_assert!(!diagnostic.message.is_empty());
        }
    }
}

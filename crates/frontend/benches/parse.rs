//! Parse speed on a generated 10,000-line Dockerfile mixing instructions, continuation lines
//! and heredocs (the budget for parse + lower of 10k lines is 50 ms).

use criterion::{criterion_group, criterion_main, Criterion};
use rbuild_frontend::parse;
use std::hint::black_box;

/// About `lines` lines of a realistic multi-stage Dockerfile.
fn generated_dockerfile(lines: usize) -> String {
    let mut out = String::from("# syntax=docker/dockerfile:1\nARG BASE=busybox\n");
    let mut stage = 0;
    while out.lines().count() < lines {
        stage += 1;
        out.push_str(&format!("FROM ${{BASE}} AS stage{stage}\n"));
        out.push_str("ENV PATH=/usr/local/bin:$PATH LANG=C.UTF-8 \\\n    HOME=/root\n");
        out.push_str("LABEL org.opencontainers.image.title=\"demo\" version=1\n");
        out.push_str("WORKDIR /src\n");
        out.push_str("COPY --chown=1000:1000 [\"a.txt\", \"b.txt\", \"/src/\"]\n");
        out.push_str("RUN --mount=type=cache,target=/var/cache set -eux; \\\n    echo one; \\\n    # a comment inside\n    echo two && \\\n    echo three\n");
        out.push_str("RUN <<EOF\n#!/bin/sh\necho from heredoc $HOME\nls -l /src\nEOF\n");
        out.push_str("COPY <<-CONF /etc/app.conf\n\tkey=value\n\tother=1\nCONF\n");
        out.push_str("HEALTHCHECK --interval=5s CMD [\"/bin/true\"]\n");
        out.push_str("ONBUILD RUN echo triggered\n");
        out.push_str("CMD [\"sh\", \"-c\", \"echo done\"]\n\n");
    }
    out
}

fn parse_10k_lines(c: &mut Criterion) {
    let source = generated_dockerfile(10_000);
    c.bench_function("parse 10k-line Dockerfile", |b| {
        // Dropping the syntax tree is timed by the "parse and drop" case, not this one.
        b.iter_with_large_drop(|| parse(black_box(&source)))
    });
    c.bench_function("parse and drop 10k-line Dockerfile", |b| {
        b.iter(|| parse(black_box(&source)).map(|file| file.instructions.len()))
    });
}

criterion_group!(benches, parse_10k_lines);
criterion_main!(benches);

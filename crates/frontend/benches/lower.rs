//! Parse + lower of a generated 10,000-line multi-stage Dockerfile (ARG/ENV scoping,
//! RUN with mounts and continuations, COPY between stages, WORKDIR, metadata). The issue's
//! budget is 50 ms for both together.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rbuild_frontend::build_definition;

#[path = "../tests/support/mod.rs"]
mod support;

/// A Dockerfile of about `lines` lines: stages of ~100 lines each, every stage but the
/// first copying from the previous one so the target needs them all.
fn generated_dockerfile(lines: usize) -> String {
    let mut text = String::from("ARG VERSION=1.0\nARG BASE=busybox\n");
    let mut stage = 0;
    while text.lines().count() < lines {
        text.push_str(&format!("FROM ${{BASE}} AS stage{stage}\nARG VERSION\n"));
        if stage > 0 {
            text.push_str(&format!("COPY --from=stage{} /out /prev\n", stage - 1));
        }
        for step in 0..12 {
            let n = stage * 12 + step;
            text.push_str(&format!(
                "ENV VAR_{}=value-{n} PATH_{}=/opt/$VERSION/bin\n\
                 WORKDIR /src/module{}\n\
                 RUN --mount=type=cache,target=/root/.cache \\\n    \
                 echo building {n} $VERSION && \\\n    \
                 make -j4 target{n}\n\
                 COPY src/module{n}/ ./\n\
                 LABEL step.{n}=\"${{VAR_{}}}\"\n",
                n % 20,
                n % 20,
                n % 7,
                n % 20
            ));
        }
        text.push_str("USER 1000:1000\nEXPOSE 8080/tcp\nCMD [\"/app\"]\n");
        stage += 1;
    }
    text
}

fn lower_10k(c: &mut Criterion) {
    let dockerfile = generated_dockerfile(10_000);
    let images = support::LocalImages::busybox();
    let options = support::options();
    c.bench_function("parse + lower 10k-line Dockerfile", |b| {
        // Freeing the definition afterwards is not part of producing it.
        b.iter_with_large_drop(|| {
            build_definition(black_box(&dockerfile), &options, &images).unwrap()
        })
    });
}

criterion_group!(benches, lower_10k);
criterion_main!(benches);

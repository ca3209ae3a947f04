//! Turning engine failures into the messages users see: the Dockerfile location, the
//! offending line, the cause and, for failed RUN steps, the last output lines.

use anyhow::anyhow;
use rbuild_engine::{BuildRequest, EngineError};
use rbuild_frontend::diagnostic::Diagnostic;
use rbuild_solver::{cause_chain, SolveError, StepFailure};

pub fn engine_failure(error: &EngineError, request: &BuildRequest) -> anyhow::Error {
    match error {
        EngineError::Frontend(e) => anyhow!("{}", e.diagnostic().render()),
        EngineError::Solve(e) => solve_failure(e, request),
        other => anyhow!("{}", cause_chain(other)),
    }
}

fn solve_failure(error: &SolveError, request: &BuildRequest) -> anyhow::Error {
    let message = format!("failed to solve: {}", error);
    let mut text = match &error.location {
        Some(location) => Diagnostic::from_source(
            &request.dockerfile.name,
            &request.dockerfile.source,
            location.start_line,
            None,
            message,
        )
        .render(),
        None => format!("error: {message}"),
    };
    if let StepFailure::CommandFailed { output_tail, .. } = error.cause.as_ref() {
        if !output_tail.is_empty() {
            text.push_str("\nlast output:\n");
            for line in output_tail {
                text.push_str("  ");
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    anyhow!("{}", text.trim_end())
}

//! Turning frontend and solver failures into the messages users see: the Dockerfile
//! location, the offending line, the cause and, for failed RUN steps, the last output lines.

use anyhow::anyhow;
use rbuild_frontend::diagnostic::Diagnostic;
use rbuild_frontend::FrontendError;
use rbuild_solver::{SolveError, StepFailure};

use crate::build::BuildInputs;

pub fn frontend_failure(error: &FrontendError) -> anyhow::Error {
    anyhow!("{}", error.diagnostic().render())
}

pub fn solve_failure(error: &SolveError, inputs: &BuildInputs) -> anyhow::Error {
    let message = format!("failed to solve: {}", error);
    let mut text = match &error.location {
        Some(location) => Diagnostic::from_source(
            &inputs.dockerfile_name,
            &inputs.source,
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

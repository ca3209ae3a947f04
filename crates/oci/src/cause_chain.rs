//! `cause_chain`: an error and its `source()`s as one line, each cause once — the form every
//! front door prints errors in. Here because every crate that words errors for users
//! (frontend diagnostics, the solver, the CLI) shares this vocabulary crate.
//!
//! It does not decide where or how the line is shown.

/// An error and its sources, outermost first, joined by `: `; a cause whose text the
/// message already holds is not repeated.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::cause_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read config")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read config: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn each_cause_is_printed_once() {
        let io = || std::io::Error::other("disk on fire");
        assert_eq!(
            cause_chain(&Outer(io())),
            "cannot read config: disk on fire"
        );
        assert_eq!(
            cause_chain(&Quoting(io())),
            "cannot read config: disk on fire"
        );
    }
}

//! STOPSIGNAL validation: a signal number or a Linux signal name, with or without `SIG`,
//! as moby's `signal.ParseSignal` accepts.
//!
//! The value is stored as written; the container runtime translates it.

const SIGNAL_NAMES: [&str; 34] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

/// Accepts `9`, `SIGTERM`, `term`, `RTMIN+3`; rejects `0`, unknown names.
pub(crate) fn validate_signal(raw: &str) -> Result<(), String> {
    let invalid = || format!("Invalid signal: {raw}");
    if let Ok(number) = raw.parse::<i64>() {
        return if number > 0 && number <= 64 {
            Ok(())
        } else {
            Err(invalid())
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNAL_NAMES.contains(&name) {
        return Ok(());
    }
    let realtime = |prefix: &str, max: u32| {
        name.strip_prefix(prefix).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .strip_prefix(if prefix == "RTMIN" { '+' } else { '-' })
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| (1..=max).contains(&n))
        })
    };
    if realtime("RTMIN", 15) || realtime("RTMAX", 14) {
        Ok(())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_and_numbers() {
        for ok in [
            "9",
            "SIGTERM",
            "term",
            "SIGRTMIN+3",
            "RTMAX-1",
            "SIGWINCH",
            "sigusr1",
        ] {
            assert!(validate_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "SIGFOO", "", "RTMIN+99", "-1"] {
            assert!(validate_signal(bad).is_err(), "{bad}");
        }
    }
}

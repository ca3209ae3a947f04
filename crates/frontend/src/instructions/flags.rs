//! Instruction flags (`--from=build`, `--link`, `--mount=...`): checks the flags written on an
//! instruction against the ones it accepts, with BuildKit's rules (`BFlags`).
//!
//! Values are returned as written; expanding variables in them is the lowering's business.

use crate::error::Fault;

/// How a flag takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// `--link`, `--link=true`, `--link=false`.
    Bool,
    /// `--from=x`, at most once.
    Text,
    /// `--mount=...`, repeatable.
    List,
}

/// The flags one instruction accepts.
pub(crate) type FlagSpec = &'static [(&'static str, FlagKind)];

/// Flags after validation, by name.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, String)>,
}

impl Flags {
    /// Validates `written` (each `--name[=value]`) against `spec`.
    pub(crate) fn parse(written: &[String], spec: FlagSpec) -> Result<Flags, Fault> {
        let mut flags = Flags::default();
        for arg in written {
            let Some(body) = arg.strip_prefix("--") else {
                return Err(
                    Fault::instruction(format!("arg should start with -- : {arg}")).focus(arg),
                );
            };
            if body.is_empty() {
                break;
            }
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some(&(known, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                return Err(unknown_flag(name, spec).focus(arg));
            };
            if kind != FlagKind::List && flags.values.iter().any(|(n, _)| *n == known) {
                return Err(
                    Fault::instruction(format!("duplicate flag specified: {name}")).focus(arg),
                );
            }
            let value = flag_value(name, kind, value).map_err(|fault| fault.focus(arg))?;
            flags.values.push((known, value));
        }
        Ok(flags)
    }

    /// The value of a `Text` flag, if given.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// Every value of a `List` flag, in order.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A `Bool` flag: `None` when not written.
    pub(crate) fn switch(&self, name: &str) -> Option<bool> {
        self.text(name).map(|v| v == "true")
    }

    /// A `Bool` flag, false when not written.
    pub(crate) fn enabled(&self, name: &str) -> bool {
        self.switch(name).unwrap_or(false)
    }
}

fn flag_value(name: &str, kind: FlagKind, value: Option<&str>) -> Result<String, Fault> {
    match (kind, value) {
        (FlagKind::Bool, None) => Ok("true".to_string()),
        (_, Some("")) | (FlagKind::Text | FlagKind::List, None) => Err(Fault::instruction(
            format!("missing a value on flag: {name}"),
        )),
        (FlagKind::Bool, Some(value)) => match value.to_ascii_lowercase().as_str() {
            "true" => Ok("true".to_string()),
            "false" => Ok("false".to_string()),
            _ => Err(Fault::instruction(format!(
                "expecting boolean value for flag {name}, not: {value}"
            ))),
        },
        (_, Some(value)) => Ok(value.to_string()),
    }
}

fn unknown_flag(name: &str, spec: FlagSpec) -> Fault {
    let fault = Fault::instruction(format!("unknown flag: {name}"));
    if spec.is_empty() {
        return fault.with_help("this instruction takes no flags");
    }
    fault.suggest(name, spec.iter().map(|(n, _)| *n), |s| format!("--{s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: FlagSpec = &[
        ("from", FlagKind::Text),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::List),
    ];

    fn parse(flags: &[&str]) -> Result<Flags, Fault> {
        let owned: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        Flags::parse(&owned, SPEC)
    }

    #[test]
    fn values_bools_and_lists() {
        let flags = parse(&["--from=build", "--link", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(flags.text("from").as_deref(), Some("build"));
        assert!(flags.enabled("link"));
        assert_eq!(flags.list("exclude"), vec!["a", "b"]);
        let flags = parse(&["--link=FALSE"]).unwrap();
        assert_eq!(flags.switch("link"), Some(false));
        assert_eq!(parse(&[]).unwrap().switch("link"), None);
    }

    #[test]
    fn unknown_flags_suggest_the_closest() {
        let fault = parse(&["--form=build"]).unwrap_err();
        assert_eq!(fault.message, "unknown flag: form");
        assert_eq!(fault.help.as_deref(), Some("did you mean --from?"));
    }

    #[test]
    fn malformed_flags_are_rejected() {
        assert!(parse(&["--from"])
            .unwrap_err()
            .message
            .contains("missing a value"));
        assert!(parse(&["--from="])
            .unwrap_err()
            .message
            .contains("missing a value"));
        assert!(parse(&["--link="])
            .unwrap_err()
            .message
            .contains("missing a value"));
        assert!(parse(&["--link=maybe"])
            .unwrap_err()
            .message
            .contains("boolean"));
        assert!(parse(&["--from=a", "--from=b"])
            .unwrap_err()
            .message
            .contains("duplicate"));
        assert!(parse(&["-from=a"])
            .unwrap_err()
            .message
            .contains("start with --"));
    }
}

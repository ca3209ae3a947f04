//! ARG scoping. Global ARGs (written before the first FROM, plus the automatic platform
//! ARGs and TARGETSTAGE) feed FROM lines, and reach a stage only when it declares the name
//! again; `--build-arg` overrides only ARGs the Dockerfile declares; proxy build args reach
//! RUN without being declared.
//!
//! Where an ARG's value is visible once decided (ENV shadowing, RUN env, history) is
//! `vars`'s business.

use std::collections::BTreeMap;

use rbuild_oci::Platform;

use crate::error::{Fault, FrontendError, SourceFile};
use crate::instructions::{ArgDeclaration, Instruction};
use crate::shell::{ShellLex, VarLookup};

use super::stages::Command;
use super::vars::{expand_word, is_proxy_name, OrderedVars};

/// The ARGs in global scope, with their values.
#[derive(Clone, Debug, Default)]
pub(crate) struct GlobalArgs {
    vars: OrderedVars,
}

impl GlobalArgs {
    /// Platform ARGs, TARGETSTAGE, then the ARGs before the first FROM, each overridable
    /// with `--build-arg`.
    pub(crate) fn new(
        build_args: &BTreeMap<String, String>,
        build_platform: &Platform,
        target_platform: &Platform,
        target_stage: &str,
        meta_args: &[Command],
        lex: &ShellLex,
        file: &SourceFile,
    ) -> Result<GlobalArgs, FrontendError> {
        let mut vars = OrderedVars::default();
        for (key, value) in automatic_args(build_platform, target_platform, target_stage) {
            vars.set(
                key,
                build_args.get(key).map_or(value.as_str(), String::as_str),
            );
        }
        let mut global = GlobalArgs { vars };
        for command in meta_args {
            let Instruction::Arg(declarations) = &command.instruction else {
                continue;
            };
            for declaration in declarations {
                let value = match build_args.get(&declaration.key) {
                    Some(value) => Some(value.clone()),
                    None => declaration
                        .default
                        .as_deref()
                        .map(|default| expand_word(lex, default, &global.vars))
                        .transpose()
                        .map_err(|fault| file.error(fault, command.line))?,
                };
                if let Some(value) = value {
                    global.vars.set(&declaration.key, &value);
                }
            }
        }
        Ok(global)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key)
    }
}

impl VarLookup for GlobalArgs {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.vars.get(name)
    }
}

fn automatic_args(
    build: &Platform,
    target: &Platform,
    target_stage: &str,
) -> [(&'static str, String); 9] {
    let variant = |p: &Platform| p.variant.clone().unwrap_or_default();
    [
        ("BUILDPLATFORM", build.to_string()),
        ("BUILDOS", build.os.clone()),
        ("BUILDARCH", build.architecture.clone()),
        ("BUILDVARIANT", variant(build)),
        ("TARGETPLATFORM", target.to_string()),
        ("TARGETOS", target.os.clone()),
        ("TARGETARCH", target.architecture.clone()),
        ("TARGETVARIANT", variant(target)),
        ("TARGETSTAGE", target_stage.to_string()),
    ]
}

/// The value an `ARG` declared inside a stage takes: the build arg, else its expanded
/// default, else (no default) the global ARG of that name; `None` when it has none.
pub(crate) fn stage_arg_value(
    declaration: &ArgDeclaration,
    build_args: &BTreeMap<String, String>,
    global: &GlobalArgs,
    expand: impl Fn(&str) -> Result<String, Fault>,
) -> Result<Option<String>, Fault> {
    if let Some(value) = build_args.get(&declaration.key) {
        return Ok(Some(value.clone()));
    }
    match &declaration.default {
        Some(default) => expand(default).map(Some),
        None => Ok(global.get(&declaration.key).map(str::to_string)),
    }
}

/// The environment proxies give every RUN, outside the cache key: each proxy build arg, in
/// both upper and lower case as BuildKit sets them.
pub(crate) fn proxy_env<'a>(values: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut proxies = values.filter(|(k, _)| is_proxy_name(k)).peekable();
    if proxies.peek().is_none() {
        return Vec::new();
    }
    let mut by_name: BTreeMap<String, &str> = BTreeMap::new();
    for (key, value) in proxies {
        by_name.insert(key.to_ascii_uppercase(), value);
    }
    by_name
        .into_iter()
        .flat_map(|(upper, value)| {
            let lower = upper.to_ascii_lowercase();
            [format!("{upper}={value}"), format!("{lower}={value}")]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_set_in_both_cases() {
        let args = [("https_proxy", "http://p:3128"), ("OTHER", "x")];
        assert_eq!(
            proxy_env(args.into_iter()),
            vec!["HTTPS_PROXY=http://p:3128", "https_proxy=http://p:3128"]
        );
    }

    #[test]
    fn stage_args_prefer_build_args_then_defaults_then_globals() {
        let build_args = BTreeMap::from([("A".to_string(), "from-cli".to_string())]);
        let global = GlobalArgs {
            vars: OrderedVars::from_env_list(&["B=global".to_string(), "C=global".to_string()]),
        };
        let declare = |key: &str, default: Option<&str>| ArgDeclaration {
            key: key.to_string(),
            default: default.map(str::to_string),
        };
        let expand = |w: &str| Ok(w.replace("$X", "x"));
        let value = |d: ArgDeclaration| stage_arg_value(&d, &build_args, &global, expand).unwrap();
        assert_eq!(
            value(declare("A", Some("default"))).as_deref(),
            Some("from-cli")
        );
        assert_eq!(value(declare("B", Some("d-$X"))).as_deref(), Some("d-x"));
        assert_eq!(value(declare("C", None)).as_deref(), Some("global"));
        assert_eq!(value(declare("D", None)), None);
    }
}

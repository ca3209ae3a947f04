//! The variables a stage sees: its ENV (which becomes the image's `Env`) and its declared
//! ARGs (which RUN sees but the image does not), with ENV shadowing ARG, and the lookup the
//! shell-word lexer expands against.
//!
//! Deciding which value an ARG takes (build args, defaults, global scope) is `args`'s job.

use std::collections::HashMap;

use crate::error::Fault;
use crate::shell::{ShellLex, VarLookup};

/// Proxy variables: they reach RUN from `--build-arg` without being declared, and then stay
/// out of the cache key and the history (declared with ARG, they are ordinary ARGs).
const PROXY_NAMES: [&str; 5] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// True for `HTTP_PROXY`, `http_proxy`, ... (any case).
pub(crate) fn is_proxy_name(name: &str) -> bool {
    PROXY_NAMES.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// `KEY=VALUE` pairs in first-set order; setting a key again replaces it in place, as
/// Docker's image config does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OrderedVars {
    entries: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl OrderedVars {
    /// From `KEY=VALUE` strings (an image config's `Env`); a later duplicate wins.
    pub(crate) fn from_env_list(list: &[String]) -> OrderedVars {
        let mut vars = OrderedVars::default();
        for entry in list {
            let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
            vars.set(key, value);
        }
        vars
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.entries[i].1.as_str())
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub(crate) fn set(&mut self, key: &str, value: &str) {
        match self.index.get(key) {
            Some(&i) => self.entries[i].1 = value.to_string(),
            None => {
                self.index.insert(key.to_string(), self.entries.len());
                self.entries.push((key.to_string(), value.to_string()));
            }
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `KEY=VALUE` strings in order.
    pub(crate) fn to_env_list(&self) -> Vec<String> {
        self.iter().map(|(k, v)| env_entry(k, v)).collect()
    }
}

impl VarLookup for OrderedVars {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// A stage's ENV and ARG state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StageVars {
    /// ENV: the image config's `Env`.
    pub env: OrderedVars,
    /// ARGs that have a value.
    args: OrderedVars,
    /// Every declared ARG name, in declaration order, with or without a value.
    declared: Vec<String>,
}

impl StageVars {
    pub(crate) fn with_env(env: OrderedVars) -> StageVars {
        StageVars {
            env,
            ..StageVars::default()
        }
    }

    /// Records `ARG key[=value]`. Without a value an earlier value is kept.
    pub(crate) fn declare_arg(&mut self, key: &str, value: Option<&str>) {
        if !self.declared.iter().any(|k| k == key) {
            self.declared.push(key.to_string());
        }
        if let Some(value) = value {
            self.args.set(key, value);
        }
    }

    /// What a variable expands to: ENV first, then ARG.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.env.get(name).or_else(|| self.args.get(name))
    }

    /// The environment of a RUN: ENV, then the ARGs ENV does not shadow.
    pub(crate) fn run_env(&self) -> Vec<String> {
        let mut list = self.env.to_env_list();
        list.extend(
            self.args
                .iter()
                .filter(|(k, _)| !self.env.contains(k))
                .map(|(k, v)| env_entry(k, v)),
        );
        list
    }

    /// BuildKit's `|N K=V ...` prefix of a RUN's history text: every declared ARG with the
    /// value the command sees. Empty when there are none.
    pub(crate) fn history_arg_prefix(&self) -> String {
        let pairs: Vec<String> = self
            .declared
            .iter()
            .map(|k| format!("{k}={}", self.value(k).unwrap_or("")))
            .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("|{} {} ", pairs.len(), pairs.join(" "))
        }
    }
}

impl VarLookup for StageVars {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.value(name)
    }
}

/// `KEY=VALUE` (built directly: RUN environments are made for every step).
fn env_entry(key: &str, value: &str) -> String {
    let mut entry = String::with_capacity(key.len() + value.len() + 1);
    entry.push_str(key);
    entry.push('=');
    entry.push_str(value);
    entry
}

/// Expands one word (quotes removed) against `vars`.
pub(crate) fn expand_word(
    lex: &ShellLex,
    word: &str,
    vars: &dyn VarLookup,
) -> Result<String, Fault> {
    // Most words (paths, names) have nothing to expand: skip the lexer for them.
    let escape = lex.escape();
    if !word.contains(['$', '\'', '"', escape]) {
        return Ok(word.to_string());
    }
    lex.process_word(word, vars)
        .map_err(|e| Fault::instruction(e.to_string()).focus(word))
}

/// Expands one word and splits the result into fields (EXPOSE).
pub(crate) fn expand_fields(
    lex: &ShellLex,
    word: &str,
    vars: &dyn VarLookup,
) -> Result<Vec<String>, Fault> {
    lex.process_words(word, vars)
        .map_err(|e| Fault::instruction(e.to_string()).focus(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_shadows_args_and_replaces_in_place() {
        let mut vars = StageVars::with_env(OrderedVars::from_env_list(&[
            "PATH=/bin".to_string(),
            "A=1".to_string(),
        ]));
        vars.declare_arg("A", Some("arg"));
        vars.declare_arg("B", Some("2"));
        vars.declare_arg("EMPTY", None);
        vars.declare_arg("http_proxy", Some("http://proxy"));
        vars.env.set("PATH", "/usr/bin");
        assert_eq!(vars.value("A"), Some("1"));
        assert_eq!(vars.value("B"), Some("2"));
        assert_eq!(vars.value("EMPTY"), None);
        assert_eq!(
            vars.run_env(),
            vec!["PATH=/usr/bin", "A=1", "B=2", "http_proxy=http://proxy"]
        );
        assert_eq!(
            vars.history_arg_prefix(),
            "|4 A=1 B=2 EMPTY= http_proxy=http://proxy "
        );
    }

    #[test]
    fn redeclaring_without_value_keeps_the_value() {
        let mut vars = StageVars::default();
        vars.declare_arg("A", Some("1"));
        vars.declare_arg("A", None);
        assert_eq!(vars.value("A"), Some("1"));
        assert_eq!(vars.history_arg_prefix(), "|1 A=1 ");
    }
}

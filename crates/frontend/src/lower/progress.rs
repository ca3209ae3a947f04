//! Progress names of vertices as BuildKit prints them: `[build 2/5] RUN make`, with the
//! stage label, the step number among the stage's steps (FROM image, RUN, COPY, ADD,
//! WORKDIR) and `ONBUILD` for triggered steps.
//!
//! Names are for people; nothing keys on them.

use std::fmt::Write;

use crate::instructions::Instruction;
use crate::shell::{ShellLex, VarLookup};

use super::stages::Command;

/// Numbers the steps of one stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StepNames {
    label: Option<String>,
    index: usize,
    total: usize,
}

impl StepNames {
    /// `label` is the stage name (None when the Dockerfile has a single stage);
    /// `from_image` counts the FROM step.
    pub(crate) fn new(label: Option<String>, from_image: bool, commands: &[&Command]) -> StepNames {
        let steps = commands.iter().filter(|c| is_step(&c.instruction)).count();
        StepNames {
            label,
            index: 0,
            total: steps + usize::from(from_image),
        }
    }

    /// The name of the next step, `text` being the instruction as written.
    pub(crate) fn next(&mut self, text: &str, triggered: bool) -> String {
        if self.total == 0 {
            return uppercase_keyword(text);
        }
        self.index += 1;
        let width = self.total.to_string().len();
        let mut name = String::with_capacity(text.len() + 32);
        name.push('[');
        if let Some(label) = &self.label {
            name.push_str(label);
            name.push(' ');
        }
        // Writing into a String cannot fail.
        let _ = write!(name, "{:>width$}/{}] ", self.index, self.total);
        if triggered {
            name.push_str("ONBUILD ");
        }
        push_uppercase_keyword(&mut name, text);
        name
    }
}

/// The instruction as written with the variables the stage knows substituted, as BuildKit
/// shows it: quotes and escapes kept, unknown variables left as written.
pub(crate) fn display_text(lex: &ShellLex, text: &str, vars: &dyn VarLookup) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    lex.clone()
        .raw_quotes(true)
        .raw_escapes(true)
        .skip_unset_env(true)
        .process_word(text, vars)
        .unwrap_or_else(|_| text.to_string())
}

/// Instructions that produce a vertex and so a numbered step.
fn is_step(instruction: &Instruction) -> bool {
    matches!(
        instruction,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Workdir(_)
    )
}

fn uppercase_keyword(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_uppercase_keyword(&mut out, text);
    out
}

/// Appends `text` with its first word (the keyword) in upper case.
fn push_uppercase_keyword(out: &mut String, text: &str) {
    let (keyword, rest) = text.split_once(' ').unwrap_or((text, ""));
    out.extend(keyword.chars().map(|c| c.to_ascii_uppercase()));
    if text.len() > keyword.len() {
        out.push(' ');
        out.push_str(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_steps_with_padding() {
        let mut names = StepNames {
            label: Some("build".into()),
            index: 0,
            total: 10,
        };
        assert_eq!(names.next("run make", false), "[build  1/10] RUN make");
        assert_eq!(
            names.next("COPY a b", true),
            "[build  2/10] ONBUILD COPY a b"
        );
        let mut single = StepNames {
            label: None,
            index: 0,
            total: 2,
        };
        assert_eq!(single.next("WORKDIR /app", false), "[1/2] WORKDIR /app");
        let mut none = StepNames {
            label: None,
            index: 0,
            total: 0,
        };
        assert_eq!(none.next("FROM x", false), "FROM x");
    }

    #[test]
    fn display_text_substitutes_known_variables_only() {
        let vars = std::collections::BTreeMap::from([("V".to_string(), "1.2".to_string())]);
        let lex = ShellLex::new('\\');
        assert_eq!(
            display_text(&lex, r#"RUN echo "v=$V" $HOME \$V"#, &vars),
            r#"RUN echo "v=1.2" $HOME \$V"#
        );
        assert_eq!(display_text(&lex, "COPY a b", &vars), "COPY a b");
    }
}

//! BuildKit's AST dump (`Node.Dump()`): one `(keyword ["flags"] "arg" ...)` line per
//! instruction, Go-quoted, so our parser can be compared byte for byte with BuildKit's
//! golden files and `rbuild debug dump-ast` prints what `buildctl` users know.
//!
//! It renders only; it never re-parses or validates the tree.

mod go_string;

pub(crate) use go_string::go_quote;

use crate::ast::{Dockerfile, Node};

/// Dumps every instruction, one per line, without a trailing newline (as BuildKit's `Dump`).
pub fn dump(dockerfile: &Dockerfile) -> String {
    let mut out = String::new();
    for node in &dockerfile.instructions {
        out.push('(');
        out.push_str(&dump_node(node));
        out.push_str(")\n");
    }
    out.trim().to_string()
}

/// Dumps one instruction without its surrounding parentheses.
pub fn dump_node(node: &Node) -> String {
    let mut out = node.keyword.to_lowercase();
    if !node.flags.is_empty() {
        let flags: Vec<String> = node.flags.iter().map(|flag| go_quote(flag)).collect();
        out.push_str(" [");
        out.push_str(&flags.join(" "));
        out.push(']');
    }
    if let Some(inner) = &node.onbuild {
        out.push_str(" (");
        out.push_str(&dump_node(inner));
        out.push(')');
    }
    for arg in &node.args {
        out.push(' ');
        out.push_str(&go_quote(arg));
    }
    // Go trims the whole rendering with unicode.IsSpace, which `str::trim` matches.
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(keyword: &str, flags: &[&str], args: &[&str]) -> Node {
        Node {
            keyword: keyword.into(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Node::default()
        }
    }

    #[test]
    fn dumps_flags_args_and_onbuild() {
        let mut onbuild = node("onbuild", &[], &[]);
        onbuild.onbuild = Some(Box::new(node("run", &["--mount=type=cache"], &["echo hi"])));
        let file = Dockerfile {
            instructions: vec![
                node("from", &[], &["alpine"]),
                onbuild,
                node("cmd", &[], &[]),
            ],
            ..Dockerfile::default()
        };
        assert_eq!(
            dump(&file),
            "(from \"alpine\")\n(onbuild (run [\"--mount=type=cache\"] \"echo hi\"))\n(cmd)"
        );
    }
}

//! The `--format` templates docker's commands take, over a JSON value: text with
//! `{{.Field.Sub}}`, `{{json .Field}}`, `{{index .Map "key"}}`, `{{join .List ","}}`,
//! `{{len .List}}`, `{{upper .X}}` / `{{lower .X}}`, and `\t` / `\n` escapes. Values print
//! as Go's `%v` prints them (`[a b]`, `map[k:v]`), so scripts written for docker work.
//!
//! It is a subset: no `range`, `if`, variables or pipes (`|`), and no `table` directive;
//! those are refused with an error, never printed as text.

use std::fmt::Write as _;

use serde_json::Value;

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Action {
        function: Option<String>,
        args: Vec<Arg>,
    },
}

#[derive(Debug)]
enum Arg {
    Path(Vec<String>),
    Literal(String),
}

/// Why a template cannot be parsed or executed.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {template:?}: unclosed action (missing \"}}}}\")")]
    Unclosed { template: String },
    #[error("template {template:?}: {reason}")]
    Unsupported { template: String, reason: String },
    #[error("template: {path}: no field {field:?}")]
    NoField { path: String, field: String },
    #[error("template: {function}: {reason}")]
    BadCall { function: String, reason: String },
}

impl Template {
    pub fn parse(template: &str) -> Result<Template, TemplateError> {
        let text = template.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| TemplateError::Unclosed {
                template: template.to_string(),
            })?;
            parts.push(parse_action(after[..end].trim(), template)?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The template applied to `value`.
    pub fn render(&self, value: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Action { function, args } => {
                    out.push_str(&call(function.as_deref(), args, value)?)
                }
            }
        }
        Ok(out)
    }
}

const FUNCTIONS: &[&str] = &["json", "index", "join", "len", "upper", "lower"];

fn parse_action(action: &str, template: &str) -> Result<Part, TemplateError> {
    let unsupported = |reason: String| TemplateError::Unsupported {
        template: template.to_string(),
        reason,
    };
    let words = split_words(action).map_err(unsupported)?;
    let Some(first) = words.first() else {
        return Err(unsupported("empty action {{}}".to_string()));
    };
    let (function, arg_words) = if first.starts_with('.') {
        (None, &words[..])
    } else if FUNCTIONS.contains(&first.as_str()) {
        (Some(first.clone()), &words[1..])
    } else {
        return Err(unsupported(format!(
            "{first:?} is not supported (fields like .Config.Env and the functions {} are)",
            FUNCTIONS.join(", ")
        )));
    };
    let args = arg_words.iter().map(|w| parse_arg(w)).collect();
    Ok(Part::Action { function, args })
}

/// Splits an action into words; a double-quoted word keeps its spaces.
fn split_words(action: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::from("\"");
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => word.extend(chars.next()),
                    Some(c) => word.push(c),
                    None => return Err("unterminated string".to_string()),
                }
            }
            words.push(word);
        } else if c == '|' {
            return Err("pipes (|) are not supported".to_string());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace()) {
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    Ok(words)
}

fn parse_arg(word: &str) -> Arg {
    match word.strip_prefix('"') {
        Some(literal) => Arg::Literal(literal.to_string()),
        None => Arg::Path(
            word.split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
    }
}

fn call(function: Option<&str>, args: &[Arg], root: &Value) -> Result<String, TemplateError> {
    let values: Vec<Value> = args
        .iter()
        .map(|arg| match arg {
            Arg::Path(path) => lookup(root, path),
            Arg::Literal(text) => Ok(Value::String(text.clone())),
        })
        .collect::<Result<_, _>>()?;
    let bad_call = |reason: &str| TemplateError::BadCall {
        function: function.unwrap_or("").to_string(),
        reason: reason.to_string(),
    };
    match (function, values.as_slice()) {
        (None, [value]) => Ok(go_value(value)),
        (Some("json"), [value]) => Ok(value.to_string()),
        (Some("index"), [value, keys @ ..]) if !keys.is_empty() => {
            let mut current = value.clone();
            for key in keys {
                current = index(&current, key).ok_or_else(|| bad_call("no such entry"))?;
            }
            Ok(go_value(&current))
        }
        (Some("join"), [Value::Array(items), Value::String(sep)]) => {
            Ok(items.iter().map(go_value).collect::<Vec<_>>().join(sep))
        }
        (Some("len"), [value]) => match value {
            Value::Array(items) => Ok(items.len().to_string()),
            Value::Object(map) => Ok(map.len().to_string()),
            Value::String(text) => Ok(text.len().to_string()),
            _ => Err(bad_call("takes a list, map or string")),
        },
        (Some("upper"), [value]) => Ok(go_value(value).to_uppercase()),
        (Some("lower"), [value]) => Ok(go_value(value).to_lowercase()),
        _ => Err(bad_call("wrong arguments")),
    }
}

fn index(value: &Value, key: &Value) -> Option<Value> {
    match (value, key) {
        (Value::Object(map), Value::String(key)) => {
            Some(map.get(key).cloned().unwrap_or(Value::Null))
        }
        (Value::Array(items), Value::String(n)) => items.get(n.parse::<usize>().ok()?).cloned(),
        _ => None,
    }
}

/// `.A.B` in `root`: exact key first, then a case-insensitive one (OCI configs use
/// lowercase keys where docker's structs are capitalized).
fn lookup(root: &Value, path: &[String]) -> Result<Value, TemplateError> {
    let mut current = root;
    let mut walked = String::new();
    for field in path {
        let found = current.as_object().and_then(|map| {
            map.get(field).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(field))
                    .map(|(_, v)| v)
            })
        });
        current = match found {
            Some(value) => value,
            None if current.is_null() => &Value::Null,
            None => {
                return Err(TemplateError::NoField {
                    path: if walked.is_empty() {
                        ".".to_string()
                    } else {
                        walked
                    },
                    field: field.clone(),
                })
            }
        };
        walked.push('.');
        walked.push_str(field);
    }
    Ok(current.clone())
}

/// A value as Go's `%v` prints the struct docker would hold.
fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "<no value>".to_string(),
        Value::String(text) => text.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_value).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(map) => {
            let mut out = String::from("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{key}:{}", go_value(&map[key]));
            }
            out.push(']');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, value: &Value) -> String {
        Template::parse(template).unwrap().render(value).unwrap()
    }

    #[test]
    fn fields_print_as_go_prints_them() {
        let image = json!({"Config": {"Env": ["A=1", "PATH=/bin"], "Labels": {"b": "2", "a": "1"}},
                           "Architecture": "amd64", "Size": 42});
        assert_eq!(render("{{.Config.Env}}", &image), "[A=1 PATH=/bin]");
        assert_eq!(render("{{.Config.Labels}}", &image), "map[a:1 b:2]");
        assert_eq!(render("{{ .Architecture }}/{{.Size}}", &image), "amd64/42");
        assert_eq!(
            render("{{json .Config.Env}}", &image),
            r#"["A=1","PATH=/bin"]"#
        );
        assert_eq!(render(r#"{{index .Config.Labels "b"}}"#, &image), "2");
        assert_eq!(
            render(r#"{{join .Config.Env ","}}"#, &image),
            "A=1,PATH=/bin"
        );
        assert_eq!(render("{{len .Config.Env}}\\t.", &image), "2\t.");
        assert_eq!(render("{{.config.env}}", &image), "[A=1 PATH=/bin]");
    }

    #[test]
    fn unknown_fields_and_constructs_are_errors() {
        let image = json!({"Config": {}});
        let missing = Template::parse("{{.Nope}}").unwrap().render(&image);
        assert!(
            matches!(missing, Err(TemplateError::NoField { .. })),
            "{missing:?}"
        );
        assert!(Template::parse("{{range .X}}").is_err());
        assert!(Template::parse("{{.X | json}}").is_err());
        assert!(Template::parse("{{.X").is_err());
        let null_config = json!({"Config": {"Labels": null}});
        assert_eq!(render("{{.Config.Labels}}", &null_config), "<no value>");
    }
}

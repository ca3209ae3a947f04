//! `RUN --mount=...` specifications: the CSV list of `key=value` fields BuildKit accepts,
//! validated per mount type into a `MountSpec`.
//!
//! Values are expanded through the caller's expander (the stage's ARG/ENV); turning a spec
//! into a graph mount (resolving `from`, relative targets, defaults that depend on the stage)
//! is the lowering's job.

use rbuild_graph::CacheSharing;

use crate::error::Fault;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

const MOUNT_TYPES: [(&str, MountType); 5] = [
    ("bind", MountType::Bind),
    ("cache", MountType::Cache),
    ("tmpfs", MountType::Tmpfs),
    ("secret", MountType::Secret),
    ("ssh", MountType::Ssh),
];

const SHARING_MODES: [(&str, CacheSharing); 3] = [
    ("shared", CacheSharing::Shared),
    ("private", CacheSharing::Private),
    ("locked", CacheSharing::Locked),
];

const ALL_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "size",
    "env",
];

/// One parsed `--mount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountSpec {
    pub kind: MountType,
    /// Stage name, stage index or image the mount reads from.
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub read_only: bool,
    pub id: Option<String>,
    pub sharing: Option<CacheSharing>,
    pub required: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// secret: expose as this environment variable.
    pub env: Option<String>,
}

impl MountSpec {
    fn new() -> MountSpec {
        MountSpec {
            kind: MountType::Bind,
            from: None,
            source: None,
            target: None,
            read_only: false,
            id: None,
            sharing: None,
            required: false,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            env: None,
        }
    }

    fn type_name(&self) -> &'static str {
        MOUNT_TYPES
            .iter()
            .find(|(_, kind)| *kind == self.kind)
            .map(|(name, _)| *name)
            .unwrap_or("bind")
    }
}

/// Parses one `--mount` value; `expand` expands variables in field values.
pub(crate) fn parse_mount(
    text: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, Fault>,
) -> Result<MountSpec, Fault> {
    let mut mount = MountSpec::new();
    let mut read_only_given = false;
    for field in split_csv(text)? {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.to_ascii_lowercase(), value.to_string()),
            None => {
                read_only_given |= apply_bare_key(&mut mount, &field)?;
                continue;
            }
        };
        let value = if key == "from" {
            if value.contains('$') {
                return Err(Fault::instruction(
                    "'from' doesn't support variable expansion, define alias stage instead",
                ));
            }
            value
        } else {
            expand(&value)?
        };
        read_only_given |= apply_field(&mut mount, &key, &field, value)?;
    }
    validate(&mut mount, read_only_given)?;
    Ok(mount)
}

/// `ro`, `rw`, `required` without a value. Returns true when it set the read-only mode.
fn apply_bare_key(mount: &mut MountSpec, field: &str) -> Result<bool, Fault> {
    match field.to_ascii_lowercase().as_str() {
        "readonly" | "ro" => mount.read_only = true,
        "readwrite" | "rw" => mount.read_only = false,
        "required" => {
            require_type(mount, "required", &[MountType::Secret, MountType::Ssh])?;
            mount.required = true;
            return Ok(false);
        }
        _ => {
            return Err(Fault::instruction(format!(
                "invalid field '{field}' must be a key=value pair"
            )))
        }
    }
    Ok(true)
}

/// Applies `key=value`. Returns true when it set the read-only mode.
fn apply_field(
    mount: &mut MountSpec,
    key: &str,
    field: &str,
    value: String,
) -> Result<bool, Fault> {
    match key {
        "type" => {
            let lower = value.to_ascii_lowercase();
            mount.kind = lookup(&MOUNT_TYPES, &lower).ok_or_else(|| {
                Fault::instruction(format!("unsupported mount type {value:?}")).suggest(
                    &lower,
                    MOUNT_TYPES.iter().map(|(n, _)| *n),
                    str::to_string,
                )
            })?;
        }
        "from" => mount.from = Some(value),
        "source" | "src" => mount.source = Some(value),
        "target" | "dst" | "destination" => mount.target = Some(value),
        "readonly" | "ro" => {
            mount.read_only = parse_bool(key, &value)?;
            return Ok(true);
        }
        "readwrite" | "rw" => {
            mount.read_only = !parse_bool(key, &value)?;
            return Ok(true);
        }
        "required" => {
            require_type(mount, key, &[MountType::Secret, MountType::Ssh])?;
            mount.required = parse_bool(key, &value)?;
        }
        "size" => {
            require_type(mount, key, &[MountType::Tmpfs])?;
            mount.size = Some(parse_ram_size(&value).ok_or_else(|| invalid_value(key, &value))?);
        }
        "env" => {
            require_type(mount, key, &[MountType::Secret])?;
            mount.env = Some(value);
        }
        "id" => mount.id = Some(value),
        "sharing" => {
            let lower = value.to_ascii_lowercase();
            mount.sharing = Some(lookup(&SHARING_MODES, &lower).ok_or_else(|| {
                Fault::instruction(format!("unsupported sharing value {value:?}")).suggest(
                    &lower,
                    SHARING_MODES.iter().map(|(n, _)| *n),
                    str::to_string,
                )
            })?);
        }
        "mode" => {
            mount.mode = Some(
                u32::from_str_radix(&value, 8)
                    .map_err(|_| Fault::instruction(format!("invalid value {value} for mode")))?,
            )
        }
        "uid" => mount.uid = Some(parse_id(key, &value)?),
        "gid" => mount.gid = Some(parse_id(key, &value)?),
        _ => {
            return Err(
                Fault::instruction(format!("unexpected key '{key}' in '{field}'")).suggest(
                    key,
                    ALL_KEYS,
                    str::to_string,
                ),
            )
        }
    }
    Ok(false)
}

fn validate(mount: &mut MountSpec, read_only_given: bool) -> Result<(), Fault> {
    let file_info_allowed = matches!(
        mount.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        for (name, given) in [
            ("mode", mount.mode.is_some()),
            ("uid", mount.uid.is_some()),
            ("gid", mount.gid.is_some()),
        ] {
            if given {
                return Err(Fault::instruction(format!(
                    "{name} not allowed for {:?} type mounts",
                    mount.type_name()
                )));
            }
        }
    }
    if !read_only_given {
        mount.read_only = !matches!(mount.kind, MountType::Cache | MountType::Tmpfs);
    }
    if mount.kind == MountType::Secret {
        if mount.from.is_some() {
            return Err(Fault::instruction("secret mount should not have a from"));
        }
        if mount.sharing.is_some() {
            return Err(Fault::instruction("secret mount should not define sharing"));
        }
        if mount.source.is_none() && mount.target.is_none() && mount.id.is_none() {
            return Err(Fault::instruction(
                "invalid secret mount. one of source, target required",
            ));
        }
        if mount.source.is_some() && mount.id.is_some() {
            return Err(Fault::instruction("both source and id can't be set"));
        }
    }
    if mount.sharing.is_some() && mount.kind != MountType::Cache {
        return Err(Fault::instruction(format!(
            "invalid cache sharing set for {} mount",
            mount.type_name()
        )));
    }
    Ok(())
}

fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn require_type(mount: &MountSpec, key: &str, allowed: &[MountType]) -> Result<(), Fault> {
    if allowed.contains(&mount.kind) {
        Ok(())
    } else {
        Err(Fault::instruction(format!(
            "unexpected key '{key}' for mount type '{}'",
            mount.type_name()
        )))
    }
}

fn invalid_value(key: &str, value: &str) -> Fault {
    Fault::instruction(format!("invalid value for {key}: {value}"))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(key: &str, value: &str) -> Result<bool, Fault> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(invalid_value(key, value)),
    }
}

fn parse_id(key: &str, value: &str) -> Result<u32, Fault> {
    value
        .parse()
        .map_err(|_| Fault::instruction(format!("invalid value {value} for {key}")))
}

/// Sizes like `64m`, `1g`, `512kb`, `2MiB` (binary multiples), as docker's `RAMInBytes`.
fn parse_ram_size(text: &str) -> Option<u64> {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let mut chars = suffix.chars().peekable();
    let exponent = match chars.peek() {
        Some(c) if "kmgtp".contains(*c) => {
            let exponent = "kmgtp".find(*c).map(|i| i as i32 + 1);
            chars.next();
            exponent?
        }
        _ => 0,
    };
    if chars.peek() == Some(&'i') {
        chars.next();
    }
    if chars.peek() == Some(&'b') {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    Some((value * 1024f64.powi(exponent)) as u64)
}

/// Splits one CSV record as Go's `encoding/csv` does: `,` separated, `"` quoted fields
/// with `""` for a literal quote.
fn split_csv(text: &str) -> Result<Vec<String>, Fault> {
    let csv_error = |what: &str| Fault::instruction(format!("failed to parse csv mounts: {what}"));
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err(csv_error("extraneous or missing \" in quoted-field")),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err(csv_error("extraneous or missing \" in quoted-field"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(csv_error("bare \" in non-quoted-field"));
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MountSpec, Fault> {
        parse_mount(text, &mut |v: &str| Ok(v.replace("$DIR", "/expanded")))
    }

    #[test]
    fn cache_mounts_default_to_read_write() {
        let m = parse("type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=1000").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!(m.mode, Some(0o700));
        assert_eq!(m.uid, Some(1000));
        assert!(!m.read_only);
    }

    #[test]
    fn bind_mounts_default_to_read_only_and_expand_values() {
        let m = parse("target=$DIR,from=build,source=/out").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert_eq!(m.target.as_deref(), Some("/expanded"));
        assert_eq!(m.from.as_deref(), Some("build"));
        assert!(m.read_only);
        assert!(!parse("target=/x,rw").unwrap().read_only);
        assert!(!parse("target=/x,readwrite=true").unwrap().read_only);
    }

    #[test]
    fn secrets_ssh_and_tmpfs() {
        let m = parse("type=secret,id=npmrc,required,env=TOKEN").unwrap();
        assert!(m.required);
        assert_eq!(m.env.as_deref(), Some("TOKEN"));
        assert!(parse("type=ssh,required=true").unwrap().required);
        assert_eq!(
            parse("type=tmpfs,target=/t,size=64m").unwrap().size,
            Some(64 << 20)
        );
        assert_eq!(parse_ram_size("1.5k"), Some(1536));
        assert_eq!(parse_ram_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_ram_size("10 GB"), Some(10 << 30));
        assert_eq!(parse_ram_size("12x"), None);
    }

    #[test]
    fn invalid_specs_are_rejected_with_hints() {
        let fault = parse("type=cahce,target=/x").unwrap_err();
        assert_eq!(fault.help.as_deref(), Some("did you mean cache?"));
        let fault = parse("type=cache,taget=/x").unwrap_err();
        assert_eq!(fault.help.as_deref(), Some("did you mean target?"));
        assert!(parse("type=bind,target=/x,mode=0755").is_err());
        assert!(parse("type=secret").is_err());
        assert!(parse("type=bind,from=$STAGE,target=/x").is_err());
        assert!(parse("required,type=secret,id=x").is_err());
        assert!(parse("type=cache,target=/x,nonsense").is_err());
        assert!(parse("type=bind,sharing=locked,target=/x").is_err());
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv(r#"type=bind,"target=/a,b","src=x""y""#).unwrap(),
            vec!["type=bind", "target=/a,b", "src=x\"y"]
        );
        assert!(split_csv(r#"a"b"#).is_err());
        assert!(split_csv(r#""ab"#).is_err());
    }
}

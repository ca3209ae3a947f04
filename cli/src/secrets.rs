//! The RUN-step settings that come from flags rather than the Dockerfile: `--secret`
//! (`id=NAME,src=FILE`, `id=NAME,env=VAR`, with `type=file|env` as buildx accepts),
//! `--ssh` (`default`, `default=SOCKET`, `ID=SOCKET`), `--network` and the resource limits
//! `--memory` and `--pids-limit`, turned into the solver's `RunEnvironment`.
//!
//! Secret values are not read here: only where they come from is recorded.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use rbuild_exec::{CancelToken, Resources};
use rbuild_solver::graph::NetworkMode;
use rbuild_solver::{RunEnvironment, SecretSource, Secrets, SshAgents};

use crate::args::BuildArgs;

/// The RUN environment the flags describe, cancelled through `cancel`.
pub fn run_environment(args: &BuildArgs, cancel: CancelToken) -> Result<RunEnvironment> {
    Ok(RunEnvironment {
        cancel,
        secrets: parse_secrets(&args.secrets)?,
        ssh: parse_ssh(
            &args.ssh,
            std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        )?,
        resources: Resources {
            memory_bytes: args.memory.as_deref().map(parse_memory).transpose()?,
            max_pids: args.pids_limit,
        },
    })
}

/// `--network`: the default mode of every RUN.
pub fn parse_network(value: Option<&str>) -> Result<NetworkMode> {
    match value.unwrap_or("default") {
        "default" => Ok(NetworkMode::Default),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        other => bail!("--network {other:?}: expected default, none or host"),
    }
}

fn parse_secrets(flags: &[String]) -> Result<Secrets> {
    let mut secrets = Secrets::default();
    for flag in flags {
        let (id, source) = parse_secret(flag).with_context(|| format!("--secret {flag:?}"))?;
        secrets.insert(&id, source);
    }
    Ok(secrets)
}

fn parse_secret(flag: &str) -> Result<(String, SecretSource)> {
    let (mut kind, mut id, mut src, mut env) = (None, None, None, None);
    for field in flag.split(',') {
        let (key, value) = field
            .split_once('=')
            .ok_or_else(|| anyhow!("field {field:?} is not KEY=VALUE"))?;
        let slot = match key {
            "type" => &mut kind,
            "id" => &mut id,
            "src" | "source" => &mut src,
            "env" => &mut env,
            other => bail!("unknown field {other:?} (id, src, env, type)"),
        };
        *slot = Some(value.to_string());
    }
    let id = id.ok_or_else(|| anyhow!("missing id=NAME"))?;
    let source = match (kind.as_deref(), src, env) {
        (Some("env"), src, env) => SecretSource::Env(env.or(src).unwrap_or_else(|| id.clone())),
        (Some("file") | None, Some(path), None) => SecretSource::File(PathBuf::from(path)),
        (None, None, Some(variable)) => SecretSource::Env(variable),
        (Some("file"), None, _) => bail!("type=file needs src=FILE"),
        (None, None, None) => SecretSource::Env(id.clone()),
        (Some(other), _, _) if other != "file" => bail!("unknown type {other:?} (file or env)"),
        _ => bail!("give either src=FILE or env=VARIABLE"),
    };
    Ok((id, source))
}

/// `--ssh ID[=SOCKET[,SOCKET...]]`; without a socket, the agent at `agent_socket`
/// (SSH_AUTH_SOCK).
fn parse_ssh(flags: &[String], agent_socket: Option<PathBuf>) -> Result<SshAgents> {
    let mut agents = SshAgents::default();
    for flag in flags {
        let (id, socket) = match flag.split_once('=') {
            Some((id, paths)) => {
                let first = paths.split(',').next().unwrap_or_default();
                (id, PathBuf::from(first))
            }
            None => {
                let socket = agent_socket.clone().ok_or_else(|| {
                    anyhow!("--ssh {flag}: SSH_AUTH_SOCK is not set; give --ssh {flag}=SOCKET")
                })?;
                (flag.as_str(), socket)
            }
        };
        if id.is_empty() || socket.as_os_str().is_empty() {
            bail!("--ssh {flag:?}: expected ID or ID=SOCKET");
        }
        agents.insert(id, socket);
    }
    Ok(agents)
}

/// Sizes as `docker build --memory` takes them: bytes, or a number with b, k, m or g.
fn parse_memory(text: &str) -> Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(index) => lower.split_at(index),
        None => (lower.as_str(), ""),
    };
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => bail!("--memory {text:?}: expected a size like 512m or 2g"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| anyhow!("--memory {text:?}: expected a size like 512m or 2g"))?;
    value
        .checked_mul(multiplier)
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| anyhow!("--memory {text:?}: out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_like_buildx() {
        let parsed = |flag: &str| parse_secret(flag).unwrap();
        assert_eq!(
            parsed("id=npm,src=/run/npmrc"),
            ("npm".into(), SecretSource::File("/run/npmrc".into()))
        );
        assert_eq!(
            parsed("id=tok,source=t.txt,type=file"),
            ("tok".into(), SecretSource::File("t.txt".into()))
        );
        assert_eq!(
            parsed("id=aws,env=AWS_KEY"),
            ("aws".into(), SecretSource::Env("AWS_KEY".into()))
        );
        assert_eq!(
            parsed("type=env,id=GITHUB_TOKEN"),
            (
                "GITHUB_TOKEN".into(),
                SecretSource::Env("GITHUB_TOKEN".into())
            )
        );
        assert_eq!(
            parsed("type=env,id=gh,src=GH_TOKEN"),
            ("gh".into(), SecretSource::Env("GH_TOKEN".into()))
        );
        for bad in [
            "src=x",
            "id=a,src=x,env=Y",
            "id=a,type=zip,src=x",
            "id=a,bogus=1",
            "id",
        ] {
            assert!(parse_secret(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn ssh_defaults_to_the_agent_in_ssh_auth_sock() {
        let agents = parse_ssh(
            &["default".into(), "work=/run/work.sock,/other".into()],
            Some("/tmp/agent.sock".into()),
        )
        .unwrap();
        let mut expected = SshAgents::default();
        expected.insert("default", "/tmp/agent.sock".into());
        expected.insert("work", "/run/work.sock".into());
        assert_eq!(agents, expected);
        let err = parse_ssh(&["default".into()], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SSH_AUTH_SOCK"), "{err}");
    }

    #[test]
    fn memory_sizes_and_network_modes() {
        assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2G").unwrap(), 2 << 30);
        assert_eq!(parse_memory("1048576").unwrap(), 1 << 20);
        assert!(parse_memory("lots").is_err() && parse_memory("0").is_err());
        assert_eq!(parse_network(None).unwrap(), NetworkMode::Default);
        assert_eq!(parse_network(Some("none")).unwrap(), NetworkMode::None);
        assert!(parse_network(Some("bridge")).is_err());
    }
}

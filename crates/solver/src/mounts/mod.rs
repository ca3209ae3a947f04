//! RUN mount provisioning: turning a RUN's `--mount`s into the sandbox's mounts and
//! environment — bind mounts from the context, a stage, an image or inline files; cache
//! mounts from the store; tmpfs; secrets as files or variables; SSH agents through a relay
//! — and holding what they need (scratch copies, cache locks, relays) for the run.
//!
//! Also here: `RunEnvironment`, what RUN steps get from outside the graph (cancellation,
//! secrets, SSH agents, resource limits), and the context selections of bind mounts,
//! which the key and the execution share. Keys themselves are `key`'s business.

mod bind_sources;
mod cache_dirs;
mod error;
mod secrets;
mod ssh_forward;

use std::collections::HashMap;

use rbuild_cache::{CacheMountLease, ScratchDir, Store};
use rbuild_exec::{CancelToken, MountSource, Resources, SandboxMount, SecretBytes};
use rbuild_oci::Digest;

pub use error::MountError;
pub use secrets::{SecretSource, Secrets, SshAgents};

use crate::context::{select_from_context, BuildContexts, ContextSelection};
use crate::error::StepFailure;
use crate::graph::{CopySource, Op, RunMount, RunOp, VertexId};
use crate::solve::VertexResult;
use bind_sources::{context_bind, context_source_path, inline_bind, vertex_bind};
pub(crate) use cache_dirs::cache_mount_key;
use cache_dirs::{provide_cache, CacheMountRequest};
use ssh_forward::AgentForward;

/// Where an SSH mount goes when the Dockerfile names no target (BuildKit's default).
const SSH_TARGET_PREFIX: &str = "/run/buildkit/ssh_agent.";

/// What RUN steps get from outside the build graph.
#[derive(Clone, Debug)]
pub struct RunEnvironment {
    /// Cancelling it kills running steps and keeps new ones from starting.
    pub cancel: CancelToken,
    pub secrets: Secrets,
    pub ssh: SshAgents,
    /// Limits for every RUN step (a cgroup each when any is set).
    pub resources: Resources,
}

impl RunEnvironment {
    /// No secrets, no agents, no limits, not cancelled.
    pub fn new() -> std::io::Result<RunEnvironment> {
        Ok(RunEnvironment {
            cancel: CancelToken::new()?,
            secrets: Secrets::default(),
            ssh: SshAgents::default(),
            resources: Resources::default(),
        })
    }
}

/// For each mount of a RUN (same order), the context files a bind mount from a local
/// context reads; `None` for every other mount and op.
pub(crate) fn bind_selections(
    store: &Store,
    contexts: &BuildContexts,
    op: &Op,
) -> Result<Vec<Option<ContextSelection>>, StepFailure> {
    let Op::Run(run) = op else {
        return Ok(Vec::new());
    };
    run.mounts
        .iter()
        .map(|mount| match mount {
            RunMount::Bind {
                source: CopySource::Context { name, excludes },
                source_path,
                ..
            } => {
                let paths = [context_source_path(source_path)];
                select_from_context(store, contexts, name, &paths, excludes, &[]).map(Some)
            }
            _ => Ok(None),
        })
        .collect()
}

/// What a RUN's mounts need from the solver.
pub(crate) struct MountInputs<'a> {
    pub store: &'a Store,
    pub env: &'a RunEnvironment,
    /// Results of the vertices the mounts read.
    pub results: &'a HashMap<VertexId, VertexResult>,
    /// From `bind_selections`.
    pub selections: &'a [Option<ContextSelection>],
}

/// The sandbox mounts and extra environment of one RUN, and what must stay alive while it
/// runs (dropped afterwards: scratch copies removed, cache locks released, relays stopped).
#[derive(Default)]
pub(crate) struct ProvidedMounts {
    pub mounts: Vec<SandboxMount>,
    /// `KEY=value` entries (secrets as variables, `SSH_AUTH_SOCK`): never in the key or
    /// the history.
    pub env: Vec<String>,
    // Held until dropped, in this order: relays stop before their directories go.
    agents: Vec<AgentForward>,
    caches: Vec<CacheMountLease>,
    scratch: Vec<ScratchDir>,
}

/// Provides every mount of `op`. A missing required secret or agent is an error; a missing
/// optional one is skipped, as in BuildKit.
pub(crate) fn provide(op: &RunOp, inputs: &MountInputs<'_>) -> Result<ProvidedMounts, StepFailure> {
    let mut provided = ProvidedMounts::default();
    let mut ssh_mounts = 0;
    for (index, mount) in op.mounts.iter().enumerate() {
        match mount {
            RunMount::Bind { .. } => provided.bind(mount, index, inputs)?,
            RunMount::Cache { .. } => provided.cache(mount, inputs)?,
            RunMount::Tmpfs { target, size } => provided.mounts.push(SandboxMount {
                source: MountSource::Tmpfs { size_bytes: *size },
                target: target.clone(),
                read_only: false,
            }),
            RunMount::Secret { .. } => provided.secret(mount, inputs)?,
            RunMount::Ssh { .. } => {
                if provided.ssh(mount, ssh_mounts, op, inputs)? {
                    ssh_mounts += 1;
                }
            }
        }
    }
    Ok(provided)
}

impl ProvidedMounts {
    fn bind(
        &mut self,
        mount: &RunMount,
        index: usize,
        inputs: &MountInputs<'_>,
    ) -> Result<(), StepFailure> {
        let RunMount::Bind {
            target,
            source,
            source_path,
            read_write,
        } = mount
        else {
            return Ok(());
        };
        let mount_source = match source {
            CopySource::Context { name, .. } => {
                let selection = inputs
                    .selections
                    .get(index)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| StepFailure::UnknownContext(name.clone()))?;
                let (source, scratch) = context_bind(inputs.store, selection)?;
                self.scratch.push(scratch);
                source
            }
            CopySource::Inline(files) => {
                let (source, scratch) = inline_bind(inputs.store, files, source_path)?;
                self.scratch.push(scratch);
                source
            }
            CopySource::Vertex(v) => {
                let lowers = inputs.store.layers().lower_dirs(&inputs.results[v].chain)?;
                vertex_bind(lowers, source_path, || self.empty_dir(inputs.store))?
            }
            CopySource::Remote(_) => {
                return Err(MountError::RemoteBindSource {
                    target: target.clone(),
                }
                .into())
            }
        };
        self.mounts.push(SandboxMount {
            source: mount_source,
            target: target.clone(),
            read_only: !read_write,
        });
        Ok(())
    }

    fn cache(&mut self, mount: &RunMount, inputs: &MountInputs<'_>) -> Result<(), StepFailure> {
        let RunMount::Cache {
            id,
            target,
            sharing,
            read_only,
            uid,
            gid,
            mode,
            from,
            source_path,
        } = mount
        else {
            return Ok(());
        };
        let from = match from {
            Some(v) => {
                let seed = &inputs.results[v];
                let lowers = inputs.store.layers().lower_dirs(&seed.chain)?;
                let lowers = if lowers.is_empty() {
                    vec![self.empty_dir(inputs.store)?]
                } else {
                    lowers
                };
                Some((&seed.key, lowers))
            }
            None => None,
        };
        let request = CacheMountRequest {
            id,
            sharing: *sharing,
            uid: *uid,
            gid: *gid,
            mode: *mode,
            from,
            source: source_path,
            read_only: *read_only,
        };
        let provided = provide_cache(inputs.store, &request, &inputs.env.cancel)?;
        self.mounts.push(SandboxMount {
            source: provided.source,
            target: target.clone(),
            read_only: *read_only,
        });
        self.caches.push(provided.lease);
        Ok(())
    }

    fn secret(&mut self, mount: &RunMount, inputs: &MountInputs<'_>) -> Result<(), StepFailure> {
        let RunMount::Secret {
            id,
            target,
            env,
            required,
            mode,
            uid,
            gid,
        } = mount
        else {
            return Ok(());
        };
        let Some(value) = inputs.env.secrets.read(id)? else {
            return if *required {
                Err(MountError::MissingSecret { id: id.clone() }.into())
            } else {
                Ok(())
            };
        };
        if let Some(variable) = env {
            let text =
                String::from_utf8(value.clone()).map_err(|_| MountError::BinarySecretInEnv {
                    id: id.clone(),
                    variable: variable.clone(),
                })?;
            self.env.push(format!("{variable}={text}"));
        }
        if let Some(target) = target {
            self.mounts.push(SandboxMount {
                source: MountSource::File {
                    contents: SecretBytes(value),
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                },
                target: target.clone(),
                read_only: true,
            });
        }
        Ok(())
    }

    /// Forwards an agent; false when an optional one was not provided.
    fn ssh(
        &mut self,
        mount: &RunMount,
        number: usize,
        op: &RunOp,
        inputs: &MountInputs<'_>,
    ) -> Result<bool, StepFailure> {
        let RunMount::Ssh {
            id,
            target,
            required,
            mode,
            uid,
            gid,
        } = mount
        else {
            return Ok(false);
        };
        let Some(agent) = inputs.env.ssh.socket(id) else {
            return if *required {
                Err(MountError::MissingSsh { id: id.clone() }.into())
            } else {
                Ok(false)
            };
        };
        let scratch = inputs.store.scratch_dir("ssh-agent")?;
        let forward =
            AgentForward::start(agent, scratch.path(), *uid, *gid, *mode).map_err(|source| {
                MountError::SshForward {
                    id: id.clone(),
                    socket: agent.to_path_buf(),
                    source,
                }
            })?;
        let target = target
            .clone()
            .unwrap_or_else(|| format!("{SSH_TARGET_PREFIX}{number}"));
        let has_sock = |entries: &[String]| entries.iter().any(|e| e.starts_with("SSH_AUTH_SOCK="));
        if !has_sock(&op.env) && !has_sock(&self.env) {
            self.env.push(format!("SSH_AUTH_SOCK={target}"));
        }
        self.mounts.push(SandboxMount {
            source: MountSource::HostPath {
                path: forward.socket().to_path_buf(),
            },
            target,
            read_only: false,
        });
        self.agents.push(forward);
        self.scratch.push(scratch);
        Ok(true)
    }

    /// An empty directory standing in for an empty filesystem.
    fn empty_dir(&mut self, store: &Store) -> Result<std::path::PathBuf, StepFailure> {
        let scratch = store.scratch_dir("empty-layer")?;
        let path = scratch.path().to_path_buf();
        self.scratch.push(scratch);
        Ok(path)
    }
}

/// Content digests of a RUN's context bind mounts, by mount index, for its key.
pub(crate) fn selection_digests(selections: &[Option<ContextSelection>]) -> Vec<Option<Digest>> {
    selections
        .iter()
        .map(|s| s.as_ref().map(|s| s.digest.clone()))
        .collect()
}

//! Cache keys: a vertex's key is the sha256 of a canonical JSON document (its
//! `KeyMaterial`) holding the op's fully expanded parameters, the keys of its inputs, the
//! content digests of the files it reads from local contexts and the versions (file digest,
//! commit) of the remote sources it reads.
//!
//! Keys are Merkle-style: a change anywhere below a vertex changes its key. Timestamps, host
//! paths and uncached environment (proxies) never enter the material. This module computes
//! keys only; looking them up is the scheduler's job.

use rbuild_oci::Digest;
use serde_json::{json, Value};

use crate::graph::{CopySource, Op, RemoteSource, RunMount, VertexId};
use crate::remote::RemoteVersion;

/// Bumped whenever the meaning of a key changes, so old cache entries stop matching.
/// 2: layer-making ops hold `source_date_epoch`; COPY keeps `--from` owners and accepts
/// empty wildcards, archive links are extracted as written.
/// 3: a RUN's `"network": "default"` is an isolated namespace with user-mode NAT (it was
/// the host's network, which a fallback build now records as `"host"`).
const KEY_FORMAT_VERSION: u32 = 3;

/// The canonical document a cache key is hashed from. Kept with the cache record so a miss
/// can be explained by comparing documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMaterial {
    value: Value,
}

impl KeyMaterial {
    /// The key: sha256 of the canonical JSON text.
    pub fn key(&self) -> Digest {
        Digest::of(self.to_json().as_bytes())
    }

    /// Canonical JSON text (object keys sorted, no whitespace).
    pub fn to_json(&self) -> String {
        self.value.to_string()
    }

    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// What the key of one vertex depends on besides the op itself.
pub struct KeyInputs<'a> {
    /// Returns the key of an input vertex (already computed: inputs come first).
    pub input_key: &'a dyn Fn(VertexId) -> Digest,
    /// Content digest of the files the op reads from a local context, when it reads any.
    pub context_digest: Option<&'a Digest>,
    /// For a RUN, the content digest of each bind mount's context files, by mount index
    /// (`None` for mounts that read no local context).
    pub mount_digests: &'a [Option<Digest>],
    /// For an ADD from URLs or git repositories, the resolved version of each source, in
    /// source order.
    pub remote_versions: &'a [RemoteVersion],
    /// SOURCE_DATE_EPOCH: the layer a RUN/COPY/WORKDIR commits has its times clamped to it,
    /// so a result made with one epoch (or none) never stands in for another.
    pub epoch: Option<i64>,
}

/// Builds the key material of `op`.
pub fn key_material(op: &Op, inputs: &KeyInputs<'_>) -> KeyMaterial {
    let key = |v: VertexId| (inputs.input_key)(v).to_string();
    let params = match op {
        Op::Scratch => json!({ "kind": "scratch" }),
        Op::Image(image) => json!({
            "kind": "image",
            "manifest": image.manifest.to_string(),
            "platform": image.platform.to_string(),
        }),
        Op::Run(run) => json!({
            "kind": "run",
            "parent": key(run.parent),
            "args": run.args,
            "env": run.env,
            "cwd": run.cwd,
            "user": run.user,
            "network": run.network,
            "platform": run.platform.to_string(),
            "source_date_epoch": inputs.epoch,
            "mounts": run.mounts.iter().enumerate().map(|(index, m)| {
                let digest = inputs.mount_digests.get(index).and_then(Option::as_ref);
                mount_material(m, &key, digest)
            }).collect::<Vec<_>>(),
        }),
        Op::Copy(copy) => json!({
            "kind": "copy",
            "parent": key(copy.parent),
            "source": source_material(
                &copy.source, &key, inputs.context_digest, inputs.remote_versions,
            ),
            "paths": copy.paths,
            "dest": copy.dest,
            "chown": copy.chown,
            "chmod": copy.chmod,
            "excludes": copy.excludes,
            "unpack_archives": copy.unpack_archives,
            "parents": copy.parents,
            "source_date_epoch": inputs.epoch,
            "more": copy.more.iter().map(|part| json!({
                "source": source_material(&part.source, &key, None, inputs.remote_versions),
                "paths": part.paths,
                "unpack_archives": part.unpack_archives,
            })).collect::<Vec<_>>(),
        }),
        Op::Mkdir(mkdir) => json!({
            "kind": "mkdir",
            "parent": key(mkdir.parent),
            "path": mkdir.path,
            "mode": mkdir.mode,
            "owner": mkdir.owner,
            "source_date_epoch": inputs.epoch,
        }),
    };
    KeyMaterial {
        value: json!({ "version": KEY_FORMAT_VERSION, "op": params }),
    }
}

fn source_material(
    source: &CopySource,
    key: &dyn Fn(VertexId) -> String,
    context_digest: Option<&Digest>,
    remote_versions: &[RemoteVersion],
) -> Value {
    match source {
        // The context's name and excludes are left out on purpose: what matters is the
        // digest of exactly the files selected, which already reflects the excludes.
        CopySource::Context { .. } => json!({
            "context": context_digest.map(|d| d.to_string()),
        }),
        CopySource::Vertex(v) => json!({ "vertex": key(*v) }),
        CopySource::Inline(files) => json!({
            "inline": files.iter().map(|f| json!({
                "name": f.name,
                "content_digest": Digest::of(f.content.as_bytes()).to_string(),
                "mode": f.mode,
            })).collect::<Vec<_>>(),
        }),
        CopySource::Remote(sources) => json!({
            "remote": sources.iter().zip(remote_versions)
                .map(|(source, version)| remote_material(source, version))
                .collect::<Vec<_>>(),
        }),
    }
}

/// A URL is named by its content alone (a mirror of the same bytes hits); a repository by
/// its remote too, which a kept `.git` records.
fn remote_material(source: &RemoteSource, version: &RemoteVersion) -> Value {
    match source {
        RemoteSource::Http(_) => json!({ "http": version }),
        RemoteSource::Git(git) => json!({
            "git": {
                "remote": git.remote,
                "version": version,
                "keep_git_dir": git.keep_git_dir,
                "submodules": git.submodules,
            },
        }),
    }
}

fn mount_material(
    mount: &RunMount,
    key: &dyn Fn(VertexId) -> String,
    context_digest: Option<&Digest>,
) -> Value {
    match mount {
        RunMount::Bind {
            target,
            source,
            source_path,
            read_write,
        } => json!({
            "type": "bind",
            "target": target,
            // Mounts never read remote sources: provisioning refuses them.
            "source": source_material(source, key, context_digest, &[]),
            "source_path": source_path,
            "rw": read_write,
        }),
        // Cache, tmpfs, secret and ssh mounts never change a step's key beyond their
        // definition: their contents (a secret's value too) are deliberately left out.
        RunMount::Cache {
            id,
            target,
            sharing,
            read_only,
            uid,
            gid,
            mode,
            from,
            source_path,
        } => json!({
            "type": "cache",
            "id": id,
            "target": target,
            "sharing": sharing,
            "ro": read_only,
            "uid": uid,
            "gid": gid,
            "mode": mode,
            "from": from.map(key),
            "source_path": source_path,
        }),
        RunMount::Tmpfs { target, size } => json!({
            "type": "tmpfs", "target": target, "size": size,
        }),
        RunMount::Secret {
            id,
            target,
            env,
            required,
            mode,
            uid,
            gid,
        } => json!({
            "type": "secret", "id": id, "target": target, "env": env,
            "required": required, "mode": mode, "uid": uid, "gid": gid,
        }),
        RunMount::Ssh {
            id,
            target,
            required,
            mode,
            uid,
            gid,
        } => json!({
            "type": "ssh", "id": id, "target": target,
            "required": required, "mode": mode, "uid": uid, "gid": gid,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::remote_add;
    use crate::graph::{GitSource, HttpSource, NetworkMode, RunOp};
    use rbuild_oci::Platform;

    fn run_op(args: &[&str], env: &[&str], uncached: &[&str]) -> Op {
        Op::Run(RunOp {
            parent: VertexId(0),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            uncached_env: uncached.iter().map(|s| s.to_string()).collect(),
            cwd: "/".into(),
            user: String::new(),
            network: NetworkMode::Default,
            platform: Platform::new("linux", "amd64", None),
            mounts: Vec::new(),
        })
    }

    fn key_with_parent(op: &Op, parent: &Digest) -> Digest {
        key_with_remote(op, parent, &[])
    }

    fn key_with_remote(op: &Op, parent: &Digest, versions: &[RemoteVersion]) -> Digest {
        material_of(op, parent, versions, None).key()
    }

    /// The material of `op` whose every input has key `parent`, reading no context.
    fn material_of(
        op: &Op,
        parent: &Digest,
        versions: &[RemoteVersion],
        epoch: Option<i64>,
    ) -> KeyMaterial {
        let input_key = |_v: VertexId| parent.clone();
        key_material(
            op,
            &KeyInputs {
                input_key: &input_key,
                context_digest: None,
                mount_digests: &[],
                remote_versions: versions,
                epoch,
            },
        )
    }

    #[test]
    fn keys_depend_on_command_env_and_parent_but_not_uncached_env() {
        let parent = Digest::of(b"parent");
        let base = key_with_parent(&run_op(&["sh", "-c", "make"], &["A=1"], &[]), &parent);
        assert_eq!(
            base,
            key_with_parent(
                &run_op(&["sh", "-c", "make"], &["A=1"], &["HTTP_PROXY=x"]),
                &parent
            )
        );
        assert_ne!(
            base,
            key_with_parent(&run_op(&["sh", "-c", "make all"], &["A=1"], &[]), &parent)
        );
        assert_ne!(
            base,
            key_with_parent(&run_op(&["sh", "-c", "make"], &["A=2"], &[]), &parent)
        );
        assert_ne!(
            base,
            key_with_parent(
                &run_op(&["sh", "-c", "make"], &["A=1"], &[]),
                &Digest::of(b"other parent")
            )
        );
    }

    #[test]
    fn the_source_date_epoch_is_part_of_a_layer_key() {
        let parent = Digest::of(b"parent");
        let key = |epoch| material_of(&run_op(&["true"], &[], &[]), &parent, &[], epoch).key();
        assert_ne!(key(None), key(Some(1_700_000_000)));
        assert_ne!(key(Some(1)), key(Some(2)));
        assert_eq!(key(Some(1)), key(Some(1)));
    }

    #[test]
    fn material_is_canonical_json() {
        let material = material_of(&run_op(&["true"], &[], &[]), &Digest::of(b"p"), &[], None);
        let text = material.to_json();
        assert!(
            text.starts_with(r#"{"op":{"args":["true"],"cwd":"/""#),
            "{text}"
        );
        assert_eq!(material.key(), Digest::of(text.as_bytes()));
    }

    fn remote_key(op: &Op, version: RemoteVersion) -> Digest {
        key_with_remote(op, &Digest::of(b"parent"), &[version])
    }

    #[test]
    fn a_url_is_keyed_by_its_bytes_and_name_not_by_where_it_came_from() {
        let http = |url: &str| {
            RemoteSource::Http(HttpSource {
                url: url.into(),
                checksum: None,
            })
        };
        let file = |bytes: &[u8]| RemoteVersion::File {
            digest: Digest::of(bytes),
            modified: Some(1_700_000_000),
        };
        let base = remote_key(
            &remote_add(http("https://a.example/app.tgz"), "app.tgz"),
            file(b"1"),
        );
        let mirror = remote_add(http("https://mirror.example/app.tgz"), "app.tgz");
        assert_eq!(base, remote_key(&mirror, file(b"1")));
        assert_ne!(base, remote_key(&mirror, file(b"2")));
        let renamed = remote_add(http("https://a.example/app.tgz"), "other.tgz");
        assert_ne!(base, remote_key(&renamed, file(b"1")));
    }

    #[test]
    fn a_repository_is_keyed_by_remote_commit_and_kept_git_dir() {
        let git = |remote: &str, keep_git_dir: bool| {
            remote_add(
                RemoteSource::Git(GitSource {
                    remote: remote.into(),
                    reference: Some("main".into()),
                    checksum: None,
                    keep_git_dir,
                    submodules: true,
                }),
                ".",
            )
        };
        let commit = |id: &str| RemoteVersion::Commit { commit: id.into() };
        let base = remote_key(&git("https://h/r.git", false), commit("a1"));
        assert_eq!(
            base,
            remote_key(&git("https://h/r.git", false), commit("a1"))
        );
        assert_ne!(
            base,
            remote_key(&git("https://h/r.git", false), commit("b2"))
        );
        assert_ne!(
            base,
            remote_key(&git("https://h/r.git", true), commit("a1"))
        );
        assert_ne!(
            base,
            remote_key(&git("https://h/other.git", false), commit("a1"))
        );
    }
}

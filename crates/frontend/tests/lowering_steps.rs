//! Lowering, graph side: the vertices RUN, COPY, ADD and WORKDIR become (argv, env, mounts,
//! sources, destinations), stage references, reachability and progress names.

mod support;

use rbuild_frontend::{build_definition, graph_dot};
use rbuild_graph::{
    CacheSharing, CopySource, GitSource, InlineFile, NetworkMode, Op, RemoteSource, RunMount,
};
use support::*;

fn copies(def: &rbuild_graph::BuildDefinition) -> Vec<&rbuild_graph::CopyOp> {
    needed(def)
        .into_iter()
        .filter_map(|v| match &v.op {
            Op::Copy(copy) => Some(copy),
            _ => None,
        })
        .collect()
}

#[test]
fn workdir_resolves_relative_paths_and_creates_directories() {
    let def = lower(
        "FROM busybox\n\
         USER nobody\n\
         WORKDIR app\n\
         WORKDIR src\n\
         WORKDIR ../lib\n\
         RUN pwd\n\
         COPY . .\n\
         COPY a.txt sub/\n",
    );
    let mkdirs: Vec<(String, Option<String>)> = needed(&def)
        .iter()
        .filter_map(|v| match &v.op {
            Op::Mkdir(m) => Some((m.path.clone(), m.owner.clone())),
            _ => None,
        })
        .collect();
    let owner = Some("nobody".to_string());
    assert_eq!(
        mkdirs,
        vec![
            ("/app".to_string(), owner.clone()),
            ("/app/src".to_string(), owner.clone()),
            ("/app/lib".to_string(), owner)
        ]
    );
    assert_eq!(runs(&def)[0].cwd, "/app/lib");
    assert_eq!(runs(&def)[0].user, "nobody");
    let dests: Vec<&str> = copies(&def).iter().map(|c| c.dest.as_str()).collect();
    assert_eq!(dests, ["/app/lib/", "/app/lib/sub/"]);
    assert_eq!(
        def.image.config.config.working_dir.as_deref(),
        Some("/app/lib")
    );
}

#[test]
fn copy_sources_context_stage_image_and_heredoc() {
    let mut options = options();
    options.context_excludes = strings(&["*.log"]);
    let def = lower_with(
        "FROM busybox AS build\n\
         RUN make\n\
         FROM busybox\n\
         ARG OWNER=1000\n\
         COPY --chown=${OWNER}:1000 --chmod=0755 --exclude=*.md --link a b /app/\n\
         COPY --from=build /out/bin /usr/bin/\n\
         COPY --from=0 /out /out0\n\
         COPY --from=busybox-musl /bin/busybox /musl-busybox\n\
         COPY --parents src/./pkg/*.go /src/\n\
         COPY <<EOF /etc/motd\n\
         hello $OWNER\n\
         EOF\n\
         ADD archive.tar.gz /opt/\n",
        &options,
    );
    let all = copies(&def);
    assert_eq!(all[0].paths, strings(&["a", "b"]));
    assert_eq!(
        all[0].source,
        CopySource::Context {
            name: "context".into(),
            excludes: strings(&["*.log"])
        }
    );
    assert_eq!(all[0].chown.as_deref(), Some("1000:1000"));
    assert_eq!(all[0].chmod, Some(0o755));
    assert_eq!(all[0].excludes, strings(&["*.md"]));
    assert!(all[0].link && !all[0].unpack_archives);

    let build_stage_end = runs(&def)[0];
    let CopySource::Vertex(from_build) = all[1].source else {
        panic!("--from=build copies from a vertex")
    };
    assert!(matches!(&def.graph.vertex(from_build).op, Op::Run(r) if r == build_stage_end));
    assert_eq!(all[2].source, all[1].source);
    let CopySource::Vertex(musl) = all[3].source else {
        panic!("--from=<image> copies from an image vertex")
    };
    assert!(
        matches!(&def.graph.vertex(musl).op, Op::Image(i) if i.reference.path() == "library/busybox-musl")
    );
    assert!(all[4].parents);
    assert_eq!(all[4].paths, strings(&["src/./pkg/*.go"]));
    assert_eq!(
        all[5].source,
        CopySource::Inline(vec![InlineFile {
            name: "EOF".into(),
            content: "hello 1000\n".into(),
            mode: 0o644
        }])
    );
    assert_eq!(all[5].dest, "/etc/motd");
    assert!(all[6].unpack_archives);
    let texts = history(&def);
    assert!(
        texts.contains(&"COPY --chown=1000:1000 --chmod=0755 a b /app/ # buildkit".to_string()),
        "{texts:?}"
    );
    assert!(texts.contains(&"COPY /out/bin /usr/bin/ # buildkit".to_string()));
    assert!(texts.contains(&"COPY --parents src/./pkg/*.go /src/ # buildkit".to_string()));
    assert!(texts.contains(&"COPY <<EOF /etc/motd # buildkit".to_string()));
    assert!(texts.contains(&"ADD archive.tar.gz /opt/ # buildkit".to_string()));
}

fn remote_sources(copy: &rbuild_graph::CopyOp) -> &[RemoteSource] {
    match &copy.source {
        CopySource::Remote(sources) => sources,
        other => panic!("not a remote ADD: {other:?}"),
    }
}

#[test]
fn add_from_urls_and_git_fetches_remote_sources() {
    let digest = format!("sha256:{}", "c".repeat(64));
    let def = lower(&format!(
        "FROM busybox\n\
         WORKDIR /opt\n\
         ARG VERSION=1.2\n\
         ADD https://example.com/dl/app-${{VERSION}}.tar.gz downloads/\n\
         ADD --chmod=0644 --chown=1:2 https://example.com/a.bin https://example.com/b.bin /bin/\n\
         ADD --checksum={digest} https://example.com/c.bin /bin/c\n\
         ADD --unpack=true https://example.com/src.tgz /src/\n\
         ADD --keep-git-dir=true https://example.com/repo.git#v1:docs /docs\n\
         ADD --exclude=*.md git@example.com:org/repo.git /repo\n"
    ));
    let all = copies(&def);
    let remote = |index: usize| remote_sources(all[index]);
    let [RemoteSource::Http(app)] = remote(0) else {
        panic!("one URL")
    };
    assert_eq!(app.url, "https://example.com/dl/app-1.2.tar.gz");
    assert_eq!(app.checksum, None);
    assert_eq!(all[0].paths, strings(&["app-1.2.tar.gz"]));
    assert_eq!(all[0].dest, "/opt/downloads/");
    assert!(!all[0].unpack_archives, "downloads are not unpacked");

    assert_eq!(remote(1).len(), 2);
    assert_eq!(all[1].paths, strings(&["a.bin", "b.bin"]));
    assert_eq!(
        (all[1].chmod, all[1].chown.as_deref()),
        (Some(0o644), Some("1:2"))
    );
    let [RemoteSource::Http(pinned)] = remote(2) else {
        panic!("one URL")
    };
    assert_eq!(
        pinned.checksum.as_ref().map(|d| d.to_string()),
        Some(digest)
    );
    assert_eq!(all[2].dest, "/bin/c");
    assert!(all[3].unpack_archives, "--unpack=true unpacks a download");

    let [RemoteSource::Git(docs)] = remote(4) else {
        panic!("one repository")
    };
    assert_eq!(
        docs,
        &GitSource {
            remote: "https://example.com/repo.git".into(),
            reference: Some("v1".into()),
            checksum: None,
            keep_git_dir: true,
            submodules: true,
        }
    );
    assert_eq!(all[4].paths, strings(&["docs"]));
    assert!(!all[4].unpack_archives);
    let [RemoteSource::Git(repo)] = remote(5) else {
        panic!("one repository")
    };
    assert_eq!(repo.remote, "git@example.com:org/repo.git");
    assert!(!repo.keep_git_dir);
    assert_eq!(all[5].paths, strings(&["."]));
    assert_eq!(all[5].excludes, strings(&["*.md"]));

    let texts = history(&def);
    assert!(
        texts.contains(
            &"ADD https://example.com/dl/app-1.2.tar.gz downloads/ # buildkit".to_string()
        ),
        "{texts:?}"
    );
    let dot = graph_dot(&def);
    assert!(
        dot.contains("fetch https://example.com/repo.git#v1"),
        "{dot}"
    );
}

#[test]
fn run_mounts_become_graph_mounts() {
    let def = lower(
        "FROM busybox AS deps\n\
         RUN fetch\n\
         FROM busybox\n\
         WORKDIR /src\n\
         RUN --mount=type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=10 \
             --mount=type=bind,from=deps,source=/out,target=vendor \
             --mount=type=bind,target=/ctx,rw \
             --mount=type=tmpfs,target=/tmp,size=1m \
             --mount=type=secret,id=token \
             --mount=type=secret,id=key,env=API_KEY,required \
             --mount=type=ssh \
             --network=none make\n",
    );
    let run = runs(&def)[1];
    assert_eq!(run.network, NetworkMode::None);
    let deps_end = def.graph.reachable_from(def.target)[1];
    assert_eq!(
        run.mounts,
        vec![
            RunMount::Cache {
                id: "/root/.cache".into(),
                target: "/root/.cache".into(),
                sharing: CacheSharing::Locked,
                read_only: false,
                uid: 10,
                gid: 0,
                mode: 0o700,
                from: None,
                source_path: "/".into(),
            },
            RunMount::Bind {
                target: "/src/vendor".into(),
                source: CopySource::Vertex(deps_end),
                source_path: "/out".into(),
                read_write: false,
            },
            RunMount::Bind {
                target: "/ctx".into(),
                source: CopySource::Context {
                    name: "context".into(),
                    excludes: Vec::new()
                },
                source_path: "/".into(),
                read_write: true,
            },
            RunMount::Tmpfs {
                target: "/tmp".into(),
                size: Some(1 << 20)
            },
            RunMount::Secret {
                id: "token".into(),
                target: Some("/run/secrets/token".into()),
                env: None,
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0
            },
            RunMount::Secret {
                id: "key".into(),
                target: None,
                env: Some("API_KEY".into()),
                required: true,
                mode: 0o400,
                uid: 0,
                gid: 0
            },
            RunMount::Ssh {
                id: "default".into(),
                target: None,
                required: false,
                mode: 0o600,
                uid: 0,
                gid: 0
            },
        ]
    );
}

#[test]
fn run_heredocs_follow_buildkit() {
    let def = lower(
        "FROM busybox\n\
         RUN <<EOF\n\
         echo one\n\
         echo two\n\
         EOF\n\
         RUN <<EOF\n\
         #!/bin/sh\n\
         echo script\n\
         EOF\n\
         RUN cat <<A > /a\n\
         first\n\
         A\n",
    );
    let all = runs(&def);
    assert_eq!(
        all[0].args,
        strings(&["/bin/sh", "-c", "echo one\necho two\n"])
    );
    assert!(
        needed(&def)[1].name.ends_with("RUN <<EOF (echo one...)"),
        "{}",
        needed(&def)[1].name
    );
    assert_eq!(all[1].args, strings(&["/bin/sh", "-c", "/dev/pipes/EOF"]));
    assert_eq!(
        all[1].mounts,
        vec![RunMount::Bind {
            target: "/dev/pipes/".into(),
            source: CopySource::Inline(vec![InlineFile {
                name: "EOF".into(),
                content: "#!/bin/sh\necho script\n".into(),
                mode: 0o755
            }]),
            source_path: "/".into(),
            read_write: false
        }]
    );
    assert_eq!(
        all[2].args,
        strings(&["/bin/sh", "-c", "cat <<A > /a\nfirst\nA"])
    );
}

#[test]
fn network_defaults_to_the_build_setting() {
    let mut options = options();
    options.network = NetworkMode::Host;
    let def = lower_with(
        "FROM busybox\nRUN a\nRUN --network=default b\nRUN --network=none c\n",
        &options,
    );
    let modes: Vec<NetworkMode> = runs(&def).iter().map(|r| r.network).collect();
    assert_eq!(
        modes,
        [NetworkMode::Host, NetworkMode::Host, NetworkMode::None]
    );
}

#[test]
fn only_stages_the_target_needs_are_lowered_and_resolved() {
    let images = LocalImages::busybox();
    let dockerfile = "FROM does-not-exist:1 AS unused\n\
                      RUN never\n\
                      FROM busybox AS build\n\
                      RUN make\n\
                      FROM build AS test\n\
                      RUN test\n\
                      FROM busybox\n\
                      COPY --from=build /out /out\n";
    let def = build_definition(dockerfile, &options(), &images).unwrap();
    assert_eq!(run_commands(&def), strings(&["make"]));
    assert_eq!(
        images.requested(),
        strings(&["docker.io/library/busybox:latest linux/amd64"])
    );
    assert!(def
        .graph
        .iter()
        .all(|(_, v)| !v.name.ends_with("RUN never") && !v.name.ends_with("RUN test")));

    let mut options = options();
    options.target = Some("TEST".into());
    let def = build_definition(dockerfile, &options, &LocalImages::busybox()).unwrap();
    assert_eq!(run_commands(&def), strings(&["make", "test"]));
}

#[test]
fn progress_names_number_the_steps_of_each_stage() {
    let def = lower(
        "FROM busybox AS build\n\
         WORKDIR /src\n\
         RUN make\n\
         FROM build\n\
         COPY a b\n",
    );
    let names: Vec<&str> = needed(&def).iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "[build 1/3] FROM docker.io/library/busybox:latest@sha256:1cfa4e2b09e127b9c4ed43578d3f3c18e7d44ea47b9ea98475c0cbe9086525f8",
            "[build 2/3] WORKDIR /src",
            "[build 3/3] RUN make",
            "[stage-1 1/1] COPY a b",
        ]
    );
    let location = needed(&def)[2].location.clone().unwrap();
    assert_eq!(
        (
            location.file.as_str(),
            location.start_line,
            location.end_line
        ),
        ("Dockerfile", 3, 3)
    );

    let single = lower("FROM busybox\nARG V=1.2\nRUN echo \"$V\" $UNSET\n");
    assert_eq!(needed(&single)[1].name, "[2/2] RUN echo \"1.2\" $UNSET");
}

#[test]
fn stages_based_on_stages_inherit_their_state() {
    let def = lower(
        "FROM busybox AS base\n\
         ARG A=1\n\
         ENV E=2\n\
         WORKDIR /w\n\
         USER 5\n\
         FROM base\n\
         RUN id\n",
    );
    let run = runs(&def)[0];
    assert!(run.env.contains(&"A=1".to_string()) && run.env.contains(&"E=2".to_string()));
    assert_eq!((run.cwd.as_str(), run.user.as_str()), ("/w", "5"));
    assert!(history(&def).contains(&"RUN |1 A=1 /bin/sh -c id # buildkit".to_string()));
}

#[test]
fn the_history_covers_the_stages_the_target_is_built_from_and_no_other() {
    let def = lower(
        "FROM busybox AS tools\n\
         ENV TOOL=1\n\
         RUN make-tool\n\
         FROM busybox AS base\n\
         ENV BASE=1\n\
         FROM base AS middle\n\
         LABEL stage=middle\n\
         FROM middle\n\
         COPY --from=tools /tool /tool\n",
    );
    let texts = history(&def);
    assert_eq!(
        texts[texts.len() - 3..],
        [
            "ENV BASE=1",
            "LABEL stage=middle",
            "COPY /tool /tool # buildkit"
        ]
    );
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("TOOL") || t.contains("make-tool")),
        "a stage only copied from adds no history: {texts:?}"
    );
    assert_eq!(def.image.history_layers.len(), texts.len());
}

#[test]
fn graph_is_rendered_as_dot() {
    let def = lower("FROM busybox AS a\nRUN x\nFROM busybox\nCOPY --from=a /x /x\n");
    let dot = rbuild_frontend::graph_dot(&def);
    assert!(dot.starts_with("digraph build {"));
    assert!(
        dot.contains("[stage-1 2/2] COPY --from=a /x /x\\ncopy"),
        "{dot}"
    );
    assert!(dot.contains("[style=dashed]"), "{dot}");
}

//! Lowering, image-config side: ARG/ENV scoping and precedence, proxies, platform ARGs,
//! CMD/ENTRYPOINT/SHELL, EXPOSE, HEALTHCHECK, ONBUILD, labels and history, against the
//! real busybox image.

mod support;

use rbuild_frontend::build_definition;
use rbuild_graph::Op;
use rbuild_oci::{ImageConfig, Platform};
use support::*;

#[test]
fn build_args_override_declared_args_only_and_env_shadows_arg() {
    let def = lower_with(
        "FROM busybox\n\
         ARG A=default\n\
         ARG B\n\
         ENV C=env\n\
         ARG C=arg\n\
         ARG D=$A-$C\n\
         RUN echo hi\n",
        &build_args(&[("A", "cli"), ("B", "cli-b"), ("UNDECLARED", "x")]),
    );
    let run = runs(&def)[0];
    assert_eq!(
        run.env,
        strings(&[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "C=env",
            "A=cli",
            "B=cli-b",
            "D=cli-env",
        ])
    );
    assert_eq!(
        env(&def),
        strings(&[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "C=env"
        ])
    );
    assert_eq!(
        history(&def)[1..],
        strings(&[
            "ARG A=cli",
            "ARG B=cli-b",
            "ENV C=env",
            "ARG C=arg",
            "ARG D=cli-env",
            "RUN |4 A=cli B=cli-b C=env D=cli-env /bin/sh -c echo hi # buildkit",
        ])
    );
}

#[test]
fn env_instruction_sees_values_from_before_it() {
    let def = lower("FROM busybox\nENV A=1\nENV A=2 B=$A\nENV C=${B}x D=\"a b\"\n");
    assert!(env(&def).ends_with(&strings(&["A=2", "B=1", "C=1x", "D=a b"])));
    assert_eq!(history(&def)[2], "ENV A=2 B=1");
}

#[test]
fn global_args_feed_from_lines_and_reach_stages_only_when_redeclared() {
    let dockerfile = "ARG VERSION=1.0\n\
                      ARG BASE=busybox\n\
                      FROM ${BASE}\n\
                      RUN echo one $VERSION\n\
                      ARG VERSION\n\
                      RUN echo two $VERSION\n";
    let def = lower(dockerfile);
    let all = runs(&def);
    assert!(!all[0].env.iter().any(|e| e.starts_with("VERSION=")));
    assert!(all[1].env.contains(&"VERSION=1.0".to_string()));

    let def = lower_with(
        dockerfile,
        &build_args(&[("VERSION", "2.0"), ("BASE", "busybox-musl")]),
    );
    assert!(runs(&def)[1].env.contains(&"VERSION=2.0".to_string()));
    let Op::Image(image) = &needed(&def)[0].op else {
        panic!("the stage starts from an image")
    };
    assert_eq!(
        image.reference.to_string(),
        "docker.io/library/busybox-musl:latest"
    );
}

#[test]
fn proxies_reach_run_uncached_and_stay_out_of_env_and_history() {
    let def = lower_with(
        "FROM busybox\nRUN wget example.com\n",
        &build_args(&[("HTTP_PROXY", "http://proxy:3128")]),
    );
    let run = runs(&def)[0];
    assert_eq!(
        run.uncached_env,
        strings(&[
            "HTTP_PROXY=http://proxy:3128",
            "http_proxy=http://proxy:3128"
        ])
    );
    assert!(!run
        .env
        .iter()
        .any(|e| e.to_ascii_lowercase().contains("proxy")));
    assert!(
        !history(&def)
            .iter()
            .any(|h| h.to_ascii_lowercase().contains("proxy")),
        "{:?}",
        history(&def)
    );
}

#[test]
fn a_declared_proxy_arg_is_an_ordinary_arg() {
    // Docker: declaring `ARG HTTP_PROXY` keeps it in the history and the cache key.
    let def = lower_with(
        "FROM busybox\nARG no_proxy=localhost\nARG HTTP_PROXY\nRUN wget example.com\n",
        &build_args(&[("HTTP_PROXY", "http://proxy:3128")]),
    );
    let run = runs(&def)[0];
    assert!(run.env.contains(&"no_proxy=localhost".to_string()));
    assert!(run
        .env
        .contains(&"HTTP_PROXY=http://proxy:3128".to_string()));
    assert_eq!(
        run.uncached_env,
        strings(&["http_proxy=http://proxy:3128"]),
        "only what the stage does not declare stays uncached"
    );
    assert!(history(&def).contains(
        &"RUN |2 no_proxy=localhost HTTP_PROXY=http://proxy:3128 /bin/sh -c wget example.com # buildkit"
            .to_string()
    ));
}

#[test]
fn platform_args_are_available_when_declared() {
    let mut options = options();
    options.platform = Platform::new("linux", "arm64", None);
    options.build_platform = amd64();
    let images = LocalImages::busybox();
    let def = build_definition(
        "FROM --platform=$BUILDPLATFORM busybox AS build\n\
         ARG TARGETARCH BUILDPLATFORM\n\
         RUN echo $TARGETARCH\n\
         FROM busybox\n\
         ARG TARGETPLATFORM\n\
         ARG TARGETSTAGE\n\
         COPY --from=build /x /x\n\
         RUN echo\n",
        &options,
        &images,
    )
    .unwrap();
    let all = runs(&def);
    assert!(all[0].env.contains(&"TARGETARCH=arm64".to_string()));
    assert!(all[0]
        .env
        .contains(&"BUILDPLATFORM=linux/amd64".to_string()));
    assert!(!all[0].env.iter().any(|e| e.starts_with("TARGETOS=")));
    assert_eq!(all[0].platform, amd64());
    assert!(all[1]
        .env
        .contains(&"TARGETPLATFORM=linux/arm64".to_string()));
    assert!(all[1].env.contains(&"TARGETSTAGE=".to_string()));
    assert_eq!(all[1].platform.architecture, "arm64");
    assert_eq!(def.image.config.architecture, "arm64");
    assert_eq!(
        images.requested(),
        strings(&[
            "docker.io/library/busybox:latest linux/arm64",
            "docker.io/library/busybox:latest linux/amd64",
        ])
    );
}

#[test]
fn entrypoint_clears_an_inherited_cmd_but_keeps_one_set_in_the_stage() {
    let def = lower("FROM busybox\nENTRYPOINT [\"/app\"]\n");
    assert_eq!(def.image.config.config.cmd, None);
    assert_eq!(def.image.config.config.entrypoint, Some(strings(&["/app"])));

    let def = lower("FROM busybox\nCMD [\"serve\"]\nENTRYPOINT /app --fast\n");
    assert_eq!(def.image.config.config.cmd, Some(strings(&["serve"])));
    assert_eq!(
        def.image.config.config.entrypoint,
        Some(strings(&["/bin/sh", "-c", "/app --fast"]))
    );
    assert_eq!(def.image.config.config.args_escaped, Some(true));
    assert_eq!(
        history(&def)[1..],
        strings(&[
            r#"CMD ["serve"]"#,
            r#"ENTRYPOINT ["/bin/sh" "-c" "/app --fast"]"#
        ])
    );

    let def = lower("FROM busybox AS base\nCMD [\"x\"]\nFROM base\nENTRYPOINT [\"/y\"]\n");
    assert_eq!(def.image.config.config.cmd, None);
}

#[test]
fn shell_changes_later_shell_forms() {
    let def = lower(
        "FROM busybox\n\
         RUN echo before\n\
         SHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\n\
         RUN echo after\n\
         CMD echo cmd\n\
         RUN [\"/bin/true\"]\n",
    );
    let all = runs(&def);
    assert_eq!(all[0].args, strings(&["/bin/sh", "-c", "echo before"]));
    assert_eq!(
        all[1].args,
        strings(&["/bin/ash", "-eo", "pipefail", "-c", "echo after"])
    );
    assert_eq!(all[2].args, strings(&["/bin/true"]));
    assert_eq!(
        def.image.config.config.cmd,
        Some(strings(&["/bin/ash", "-eo", "pipefail", "-c", "echo cmd"]))
    );
    assert!(history(&def).contains(&"SHELL [/bin/ash -eo pipefail -c]".to_string()));
}

#[test]
fn expose_is_normalized() {
    let def = lower("FROM busybox\nENV P=9000\nEXPOSE 80 443/TCP 53/udp 8000-8001 $P\n");
    let ports: Vec<&String> = def
        .image
        .config
        .config
        .exposed_ports
        .as_ref()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        ports,
        ["443/tcp", "53/udp", "80/tcp", "8000/tcp", "8001/tcp", "9000/tcp"]
    );
    assert_eq!(
        history(&def).last().unwrap(),
        // BuildKit prints its port map with Go's `%v`: keys in byte order.
        "EXPOSE map[443/tcp:{} 53/udp:{} 80/tcp:{} 8000/tcp:{} 8001/tcp:{} 9000/tcp:{}]"
    );
}

#[test]
fn healthcheck_fields_are_nanoseconds() {
    let def = lower(
        "FROM busybox\nHEALTHCHECK --interval=30s --timeout=5s --start-period=1m --start-interval=2s --retries=4 \
         CMD wget -q localhost || exit 1\n",
    );
    let health = def.image.config.config.healthcheck.clone().unwrap();
    assert_eq!(
        health.test,
        Some(strings(&["CMD-SHELL", "wget -q localhost || exit 1"]))
    );
    assert_eq!(health.interval, Some(30_000_000_000));
    assert_eq!(health.timeout, Some(5_000_000_000));
    assert_eq!(health.start_period, Some(60_000_000_000));
    assert_eq!(health.start_interval, Some(2_000_000_000));
    assert_eq!(health.retries, Some(4));
    assert_eq!(
        history(&def).last().unwrap(),
        "HEALTHCHECK {Test:[CMD-SHELL wget -q localhost || exit 1] Interval:30s Timeout:5s StartPeriod:1m0s StartInterval:2s Retries:4}"
    );
    let def = lower("FROM busybox\nHEALTHCHECK NONE\n");
    assert_eq!(
        def.image.config.config.healthcheck.unwrap().test,
        Some(strings(&["NONE"]))
    );
}

#[test]
fn onbuild_triggers_of_a_base_image_run_right_after_from() {
    let mut base = busybox_config();
    base.config.on_build = Some(strings(&["RUN echo triggered", "ENV FROM_TRIGGER=1"]));
    let images = LocalImages::busybox().with_image("example/onbuild:1", base);
    let def = build_definition(
        "FROM example/onbuild:1\nRUN echo own\nONBUILD RUN echo next\n",
        &options(),
        &images,
    )
    .unwrap();
    assert_eq!(run_commands(&def), strings(&["echo triggered", "echo own"]));
    assert!(
        needed(&def)[1].name.contains("ONBUILD RUN echo triggered"),
        "{}",
        needed(&def)[1].name
    );
    assert_eq!(runs(&def)[1].env.last().unwrap(), "FROM_TRIGGER=1");
    assert_eq!(
        def.image.config.config.on_build,
        Some(strings(&["RUN echo next"]))
    );
    assert_eq!(needed(&def)[1].location.as_ref().unwrap().start_line, 1);
}

#[test]
fn onbuild_triggers_of_a_base_stage_run_once() {
    let def = lower(
        "FROM busybox AS base\n\
         ONBUILD RUN echo child\n\
         RUN echo base\n\
         FROM base AS mid\n\
         RUN echo mid\n\
         FROM mid\n\
         RUN echo last\n",
    );
    assert_eq!(
        run_commands(&def),
        strings(&["echo base", "echo child", "echo mid", "echo last"])
    );
    assert_eq!(def.image.config.config.on_build, None);
}

#[test]
fn onbuild_with_a_heredoc_is_stored_whole_and_runs_as_a_script() {
    let dockerfile = "FROM busybox AS base\nONBUILD RUN <<EOF\necho hi\nEOF\nFROM base\n";
    let mut options = options();
    options.target = Some("base".into());
    let base = lower_with(dockerfile, &options);
    assert_eq!(
        base.image.config.config.on_build,
        Some(strings(&["RUN <<EOF\necho hi\nEOF"]))
    );
    let child = lower(dockerfile);
    assert_eq!(
        runs(&child)[0].args,
        strings(&["/bin/sh", "-c", "echo hi\n"])
    );
}

#[test]
fn metadata_instructions_update_the_config_and_history() {
    let mut options = options();
    options
        .labels
        .insert("org.opencontainers.image.source".into(), "cli".into());
    let def = lower_with(
        "FROM busybox\n\
         MAINTAINER someone@example.com\n\
         ENV NAME=app\n\
         LABEL version=\"1.0\" name=$NAME\n\
         USER ${NAME}:app\n\
         VOLUME /data\n\
         VOLUME [\"/cache\", \"/logs\"]\n\
         STOPSIGNAL SIGQUIT\n",
        &options,
    );
    let config = &def.image.config;
    assert_eq!(config.author.as_deref(), Some("someone@example.com"));
    let labels = config.config.labels.as_ref().unwrap();
    assert_eq!(labels["version"], "1.0");
    assert_eq!(labels["name"], "app");
    assert_eq!(labels["org.opencontainers.image.source"], "cli");
    assert_eq!(config.config.user.as_deref(), Some("app:app"));
    let volumes: Vec<&String> = config.config.volumes.as_ref().unwrap().keys().collect();
    assert!(volumes.contains(&&"/cache".to_string()) && volumes.contains(&&"/data".to_string()));
    assert_eq!(config.config.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(
        history(&def)[1..6],
        strings(&[
            "MAINTAINER someone@example.com",
            "ENV NAME=app",
            "LABEL version=1.0 name=app",
            "USER app:app",
            "VOLUME [/data]",
        ])
    );
}

#[test]
fn history_pairs_base_entries_and_steps_with_layers() {
    let def = lower("FROM busybox\nENV A=1\nWORKDIR /app\nRUN true\nWORKDIR /\n");
    let layers = &def.image.history_layers;
    assert_eq!(layers.len(), def.image.config.history.len());
    assert_eq!(
        def.image.config.history[0].created_by.as_deref(),
        Some("BusyBox 1.38.0 (glibc), Debian 13")
    );
    assert_eq!(layers[0], None);
    assert_eq!(layers[1], None);
    assert!(def.image.config.history[1].empty_layer);
    assert!(layers[2].is_some() && layers[3].is_some());
    assert_eq!(layers[3], Some(def.target));
    assert_eq!(layers[4], None);
    assert_eq!(
        history(&def)[1..],
        strings(&[
            "ENV A=1",
            "WORKDIR /app",
            "RUN /bin/sh -c true # buildkit",
            "WORKDIR /"
        ])
    );
    assert!(def.image.config.created.is_none());
    assert!(def.image.config.rootfs.diff_ids.is_empty());
    assert!(def.image.config.history[0].created.is_some());
    assert!(def.image.config.history[1..]
        .iter()
        .all(|h| h.created.is_none()));
}

#[test]
fn scratch_stages_get_the_default_path_and_target_platform() {
    let def = lower("FROM scratch\nCOPY app /app\n");
    assert_eq!(
        env(&def),
        strings(&["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    );
    assert!(matches!(needed(&def)[0].op, Op::Scratch));
    assert_eq!(def.image.config.os, "linux");
    let copy_history = history(&def);
    assert_eq!(copy_history, strings(&["COPY app /app # buildkit"]));
    let config: &ImageConfig = &def.image.config;
    assert_eq!(config.architecture, "amd64");
    assert_eq!(config.config.working_dir.as_deref(), Some("/"));
}

#[test]
fn the_image_records_the_platform_its_stage_was_built_for() {
    let def = lower("FROM --platform=linux/arm64 busybox\nRUN true\n");
    assert_eq!(def.image.config.architecture, "arm64");
    assert_eq!(
        runs(&def)[0].platform,
        Platform::new("linux", "arm64", None)
    );
    let def = lower("FROM busybox\n");
    assert_eq!(def.image.config.architecture, "amd64");
}

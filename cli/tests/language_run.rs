//! End-to-end: RUN in shell and exec form, SHELL, heredocs (scripts, shebangs, `<<-`,
//! quoted delimiters, several per line, COPY heredocs), ENV and ARG scoping with
//! `--build-arg`, proxies, and USER / WORKDIR as RUN sees them.

mod common;
mod language_support;

use common::{context_from, steps, TestStore};
use language_support::{build, build_dockerfile, host_arch, strings};

#[test]
fn shell_and_exec_forms_run_and_shell_changes_later_shell_forms() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let built = build_dockerfile(
        &store,
        r#"FROM busybox
RUN echo "shell form" > /shell-form.txt
RUN ["/bin/sh", "-c", "echo exec form > /exec-form.txt"]
RUN ["/bin/busybox", "touch", "/no-shell-needed"]
SHELL ["/bin/sh", "-c", "echo \"$0\" > /shell-name.txt && eval \"$1\"", "my-shell"]
RUN echo after shell > /after-shell.txt
CMD echo cmd
ENTRYPOINT echo entrypoint
HEALTHCHECK --interval=10s CMD test -f /after-shell.txt
"#,
        &[],
    );
    assert_eq!(built.read("shell-form.txt"), "shell form\n");
    assert_eq!(built.read("exec-form.txt"), "exec form\n");
    assert!(built.exists("no-shell-needed"));
    assert_eq!(
        built.read("shell-name.txt"),
        "my-shell\n",
        "RUN ran under SHELL"
    );
    assert_eq!(built.read("after-shell.txt"), "after shell\n");
    let shell = [
        "/bin/sh",
        "-c",
        "echo \"$0\" > /shell-name.txt && eval \"$1\"",
        "my-shell",
    ];
    let with_shell = |command: &str| {
        let mut argv: Vec<String> = shell.iter().map(|s| s.to_string()).collect();
        argv.push(command.to_string());
        argv
    };
    assert_eq!(strings(built.setting("Shell")), shell);
    assert_eq!(strings(built.setting("Cmd")), with_shell("echo cmd"));
    assert_eq!(
        strings(built.setting("Entrypoint")),
        with_shell("echo entrypoint")
    );
    // Docker runs CMD-SHELL health checks with the image's Shell, recorded above.
    assert_eq!(
        strings(&built.setting("Healthcheck")["Test"]),
        ["CMD-SHELL", "test -f /after-shell.txt"]
    );
    assert!(built
        .history()
        .contains(&"RUN /bin/sh -c echo exec form > /exec-form.txt # buildkit".to_string()));
}

#[test]
fn heredocs_feed_scripts_and_files() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let dockerfile = "FROM busybox\n\
        ARG WHO=world\n\
        RUN <<EOF\n\
        echo \"hello $WHO\" > /multi.txt\n\
        echo second line >> /multi.txt\n\
        EOF\n\
        RUN <<-EOT\n\
        \t\techo tabs-stripped > /chomped.txt\n\
        \tEOT\n\
        RUN cat <<'EOF' > /quoted.txt\n\
        literal $WHO\n\
        EOF\n\
        RUN cat <<EOF > /unquoted.txt\n\
        expanded $WHO\n\
        EOF\n\
        RUN <<A cat > /first.txt && cat <<B > /second.txt\n\
        body-a\n\
        A\n\
        body-b\n\
        B\n\
        COPY <<EOF /copied.txt\n\
        copied $WHO\n\
        EOF\n\
        COPY <<'EOF' /copied-literal.txt\n\
        copied $WHO\n\
        EOF\n\
        COPY <<ONE <<TWO /inline-dir/\n\
        first file\n\
        ONE\n\
        second file\n\
        TWO\n";
    let built = build_dockerfile(&store, dockerfile, &["--build-arg", "WHO=you"]);
    assert_eq!(built.read("multi.txt"), "hello you\nsecond line\n");
    assert_eq!(built.read("chomped.txt"), "tabs-stripped\n");
    assert_eq!(built.read("quoted.txt"), "literal $WHO\n");
    assert_eq!(built.read("unquoted.txt"), "expanded you\n");
    assert_eq!(built.read("first.txt"), "body-a\n");
    assert_eq!(built.read("second.txt"), "body-b\n");
    assert_eq!(built.read("copied.txt"), "copied you\n");
    assert_eq!(built.read("copied-literal.txt"), "copied $WHO\n");
    assert_eq!(built.read("inline-dir/ONE"), "first file\n");
    assert_eq!(built.read("inline-dir/TWO"), "second file\n");
    assert_eq!(built.mode("copied.txt"), 0o644);
    assert!(
        built
            .progress
            .contains("RUN <<EOF (echo \"hello $WHO\" > /multi.txt...)"),
        "{}",
        built.progress
    );
}

#[test]
fn a_heredoc_with_a_shebang_runs_with_its_interpreter() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let built = build_dockerfile(
        &store,
        "FROM busybox\n\
         RUN <<EOF\n\
         #!/bin/awk -f\n\
         BEGIN { print \"from awk\" > \"/shebang.txt\" }\n\
         EOF\n",
        &[],
    );
    assert_eq!(built.read("shebang.txt"), "from awk\n");
}

#[test]
fn env_and_arg_follow_docker_scoping_and_build_args() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let arch = host_arch();
    let dockerfile = r#"ARG GLOBAL=global-default
ARG ONLY_GLOBAL=hidden
FROM busybox
ENV SPACED="two words" PLAIN=plain
ENV LEGACY legacy form value
ARG GLOBAL
ARG LOCAL=local-default
ARG OVERRIDDEN=default
ARG PLAIN=arg-loses
ARG TARGETARCH
ARG BUILDPLATFORM
ENV FROM_ARG=v-$LOCAL
RUN env | sort > /env.txt
RUN echo "PLAIN=$PLAIN LOCAL=$LOCAL OVERRIDDEN=$OVERRIDDEN GLOBAL=$GLOBAL ONLY_GLOBAL=[$ONLY_GLOBAL] TARGETOS=[$TARGETOS]" > /vars.txt
"#;
    let built = build_dockerfile(
        &store,
        dockerfile,
        &[
            "--build-arg",
            "OVERRIDDEN=from-cli",
            "--build-arg",
            "UNDECLARED=ignored",
        ],
    );
    assert_eq!(
        built.read("vars.txt"),
        "PLAIN=plain LOCAL=local-default OVERRIDDEN=from-cli GLOBAL=global-default \
         ONLY_GLOBAL=[] TARGETOS=[]\n"
    );
    let env = built.read("env.txt");
    for expected in [
        "SPACED=two words".to_string(),
        "LEGACY=legacy form value".to_string(),
        "FROM_ARG=v-local-default".to_string(),
        format!("TARGETARCH={arch}"),
        format!("BUILDPLATFORM=linux/{arch}"),
    ] {
        assert!(
            env.lines().any(|line| line == expected),
            "{expected} in\n{env}"
        );
    }
    assert!(!env.contains("UNDECLARED"), "{env}");
    assert_eq!(
        built.env(),
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SPACED=two words",
            "PLAIN=plain",
            "LEGACY=legacy form value",
            "FROM_ARG=v-local-default",
        ],
        "ARGs never reach the image's Env"
    );
    let run_history = format!(
        "RUN |6 GLOBAL=global-default LOCAL=local-default OVERRIDDEN=from-cli PLAIN=plain \
         TARGETARCH={arch} BUILDPLATFORM=linux/{arch} /bin/sh -c env | sort > /env.txt # buildkit"
    );
    assert!(
        built.history().contains(&run_history),
        "{:#?}",
        built.history()
    );
}

#[test]
fn proxy_build_args_reach_run_but_not_the_history_or_the_cache_key() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[("Dockerfile", "FROM busybox\nRUN env > /env.txt\n")]);
    let first = build(
        &store,
        context.path(),
        &["--build-arg", "HTTP_PROXY=http://proxy.invalid:3128"],
    );
    let env = first.read("env.txt");
    assert!(
        env.contains("HTTP_PROXY=http://proxy.invalid:3128"),
        "{env}"
    );
    assert!(
        env.contains("http_proxy=http://proxy.invalid:3128"),
        "{env}"
    );
    assert!(
        !first
            .history()
            .iter()
            .any(|h| h.to_lowercase().contains("proxy")),
        "{:?}",
        first.history()
    );
    assert!(!first
        .env()
        .iter()
        .any(|e| e.to_lowercase().contains("proxy")));

    let second = build(
        &store,
        context.path(),
        &["--build-arg", "HTTP_PROXY=http://elsewhere.invalid:8080"],
    );
    let run = steps(&second.progress)
        .into_iter()
        .find(|(name, _)| name.contains("RUN env"))
        .expect("the RUN step is listed");
    assert!(
        run.1,
        "a new proxy must not invalidate the cache:\n{}",
        second.progress
    );
}

#[test]
fn user_and_workdir_shape_run_and_the_config() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let built = build_dockerfile(
        &store,
        "FROM busybox\n\
         RUN adduser -D -u 1500 alice && addgroup -g 2500 team\n\
         WORKDIR /srv\n\
         WORKDIR app\n\
         WORKDIR ../data\n\
         RUN pwd > /pwd.txt\n\
         USER alice\n\
         WORKDIR /home/alice/work/deep\n\
         RUN id -u > uid.txt && id -g > gid.txt && touch made-by-alice\n\
         USER 1500:2500\n\
         RUN id -u > /tmp/numeric.txt && id -g >> /tmp/numeric.txt\n\
         USER alice:team\n\
         RUN id -g > /tmp/named-group.txt\n\
         USER 1500\n\
         RUN id -g > /tmp/uid-only.txt\n",
        &[],
    );
    assert_eq!(
        built.read("pwd.txt"),
        "/srv/data\n",
        "relative WORKDIRs chain"
    );
    assert!(
        built.metadata("srv/app").is_dir(),
        "WORKDIR creates its directory"
    );
    assert_eq!(built.owner("srv/app"), (0, 0));
    assert_eq!(
        built.owner("home/alice/work"),
        (1500, 1500),
        "owned by USER"
    );
    assert_eq!(built.owner("home/alice/work/deep"), (1500, 1500));
    let deep = "home/alice/work/deep";
    assert_eq!(built.read(&format!("{deep}/uid.txt")), "1500\n");
    assert_eq!(built.read(&format!("{deep}/gid.txt")), "1500\n");
    assert_eq!(built.owner(&format!("{deep}/made-by-alice")), (1500, 1500));
    assert_eq!(built.read("tmp/numeric.txt"), "1500\n2500\n");
    assert_eq!(built.read("tmp/named-group.txt"), "2500\n");
    assert_eq!(
        built.read("tmp/uid-only.txt"),
        "1500\n",
        "a known uid takes its primary group"
    );
    assert_eq!(built.setting("User"), "1500");
    assert_eq!(built.setting("WorkingDir"), "/home/alice/work/deep");
    assert!(built.history().contains(&"WORKDIR /srv/data".to_string()));
    assert!(built.history_is_empty_layer("USER alice"));
}

//! End-to-end: the metadata instructions — LABEL (and `--label`), MAINTAINER, EXPOSE,
//! VOLUME, STOPSIGNAL, HEALTHCHECK, CMD and ENTRYPOINT — as they land in the image config
//! and its history, read back from the OCI archive.

mod common;
mod language_support;

use common::{context_from, TestStore};
use language_support::{build, build_dockerfile, keys, strings};
use serde_json::json;

#[test]
fn metadata_instructions_shape_the_image_config() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let built = build_dockerfile(
        &store,
        r#"FROM busybox
LABEL version="1.0" "multi word"="a b" description=x\ y
MAINTAINER Jane Doe <jane@example.com>
EXPOSE 80 443/udp 8000-8001 9000/TCP
VOLUME /data
VOLUME ["/json-a", "/json-b"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --start-interval=2s --retries=4 CMD wget -q -O- http://localhost/ || exit 1
ENTRYPOINT ["/bin/echo", "entry"]
CMD ["default", "args"]
"#,
        &["--label", "extra=from-cli"],
    );
    assert_eq!(
        built.setting("Labels"),
        &json!({"version": "1.0", "multi word": "a b", "description": "x y", "extra": "from-cli"})
    );
    assert_eq!(built.config["author"], "Jane Doe <jane@example.com>");
    assert_eq!(
        keys(built.setting("ExposedPorts")),
        ["443/udp", "80/tcp", "8000/tcp", "8001/tcp", "9000/tcp"]
    );
    assert_eq!(
        keys(built.setting("Volumes")),
        ["/data", "/json-a", "/json-b"]
    );
    assert_eq!(built.setting("StopSignal"), "SIGUSR1");
    assert_eq!(
        built.setting("Healthcheck"),
        &json!({
            "Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
            "Interval": 30_000_000_000_i64,
            "Timeout": 5_000_000_000_i64,
            "StartPeriod": 10_000_000_000_i64,
            "StartInterval": 2_000_000_000_i64,
            "Retries": 4,
        })
    );
    assert_eq!(strings(built.setting("Entrypoint")), ["/bin/echo", "entry"]);
    assert_eq!(strings(built.setting("Cmd")), ["default", "args"]);

    for entry in [
        "LABEL version=1.0 multi word=a b description=x y",
        "MAINTAINER Jane Doe <jane@example.com>",
        "EXPOSE map[443/udp:{} 80/tcp:{} 8000/tcp:{} 8001/tcp:{} 9000/tcp:{}]",
        "VOLUME [/data]",
        "VOLUME [/json-a /json-b]",
        "STOPSIGNAL SIGUSR1",
        "HEALTHCHECK {Test:[CMD-SHELL wget -q -O- http://localhost/ || exit 1] Interval:30s \
         Timeout:5s StartPeriod:10s StartInterval:2s Retries:4}",
        r#"ENTRYPOINT ["/bin/echo" "entry"]"#,
        r#"CMD ["default" "args"]"#,
    ] {
        assert!(
            built.history_is_empty_layer(entry),
            "{entry} is a metadata-only entry"
        );
    }
    assert!(
        !built.history().iter().any(|h| h.contains("from-cli")),
        "--label adds no history"
    );
    assert_eq!(
        built.config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        1,
        "metadata adds no layers"
    );
}

#[test]
fn entrypoint_clears_inherited_cmd_and_healthcheck_none_disables_checks() {
    require_sandbox!();
    let store = TestStore::with_busybox();
    let context = context_from(&[(
        "Dockerfile",
        "FROM busybox AS entry-only\n\
         ENTRYPOINT [\"/bin/cat\"]\n\
         \n\
         FROM busybox AS shell-forms\n\
         SHELL [\"/bin/sh\", \"-ec\"]\n\
         CMD echo from cmd\n\
         ENTRYPOINT echo from entrypoint\n\
         HEALTHCHECK CMD test -f /ok\n\
         \n\
         FROM shell-forms AS no-check\n\
         HEALTHCHECK NONE\n",
    )]);
    let entry_only = build(&store, context.path(), &["--target", "entry-only"]);
    assert_eq!(strings(entry_only.setting("Entrypoint")), ["/bin/cat"]);
    assert!(
        entry_only.setting("Cmd").is_null(),
        "busybox's CMD [\"sh\"] is dropped: {}",
        entry_only.config
    );

    let shell_forms = build(&store, context.path(), &["--target", "shell-forms"]);
    assert_eq!(
        strings(shell_forms.setting("Cmd")),
        ["/bin/sh", "-ec", "echo from cmd"],
        "CMD set in the same stage survives ENTRYPOINT"
    );
    assert_eq!(
        strings(shell_forms.setting("Entrypoint")),
        ["/bin/sh", "-ec", "echo from entrypoint"]
    );
    assert_eq!(
        strings(&shell_forms.setting("Healthcheck")["Test"]),
        ["CMD-SHELL", "test -f /ok"]
    );

    let no_check = build(&store, context.path(), &["--target", "no-check"]);
    assert_eq!(no_check.setting("Healthcheck"), &json!({"Test": ["NONE"]}));
    assert_eq!(
        strings(no_check.setting("Cmd")),
        ["/bin/sh", "-ec", "echo from cmd"],
        "a stage FROM another keeps its CMD"
    );
}

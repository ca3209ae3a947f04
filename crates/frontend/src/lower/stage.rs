//! The state of a stage while it is lowered: the vertex its filesystem is at, its image
//! config as instructions evolve it, its variables and history; and how a stage starts
//! (from scratch, a base image's config, or another stage) and ends (an `ImageTemplate`).
//!
//! Instructions change this state in `dispatch`, `run` and `copy`.

use std::collections::BTreeMap;

use rbuild_graph::{ImageTemplate, VertexId};
use rbuild_oci::{ImageConfig, Platform, RootFs};

use super::history::StageHistory;
use super::progress::StepNames;
use super::vars::{OrderedVars, StageVars};

/// BuildKit's default PATH, set when a base config has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug)]
pub(crate) struct StageState {
    /// The vertex whose filesystem the next step builds on.
    pub vertex: VertexId,
    pub platform: Platform,
    /// The image config; its `Env` lives in `vars.env` and its history in `history` until
    /// the stage ends.
    pub config: ImageConfig,
    pub vars: StageVars,
    pub history: StageHistory,
    /// True once CMD is set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    pub names: StepNames,
}

impl StageState {
    /// A stage starting from a base config (an image's, or `scratch`'s); it records a
    /// history only when `record_history` (its image is produced).
    pub(crate) fn from_config(
        vertex: VertexId,
        platform: Platform,
        mut config: ImageConfig,
        names: StepNames,
        record_history: bool,
    ) -> StageState {
        config.created = None;
        config.rootfs = RootFs::default();
        config.config.on_build = None;
        let history = StageHistory::inherit(std::mem::take(&mut config.history), record_history);
        let mut env = OrderedVars::from_env_list(&config.config.env.take().unwrap_or_default());
        if !env.contains("PATH") {
            env.set("PATH", DEFAULT_PATH);
        }
        StageState {
            vertex,
            platform,
            config,
            vars: StageVars::with_env(env),
            history,
            cmd_set: false,
            names,
        }
    }

    /// A stage `FROM` another stage: everything carries over except ONBUILD triggers
    /// (they already ran) and the record of CMD being set here.
    pub(crate) fn child(&self, names: StepNames, record_history: bool) -> StageState {
        let mut state = self.clone();
        state.config.config.on_build = None;
        state.cmd_set = false;
        state.names = names;
        state.history.set_recording(record_history);
        state
    }

    /// The working directory, `/` when unset.
    pub(crate) fn workdir(&self) -> &str {
        match self.config.config.working_dir.as_deref() {
            Some(dir) if !dir.is_empty() => dir,
            _ => "/",
        }
    }

    /// `user[:group]`, empty for root.
    pub(crate) fn user(&self) -> String {
        self.config.config.user.clone().unwrap_or_default()
    }

    /// The final image metadata: Env and history put back, `--label`s applied, and the
    /// platform the stage was built for recorded.
    pub(crate) fn into_template(self, labels: &BTreeMap<String, String>) -> ImageTemplate {
        let mut config = self.config;
        config.config.env = Some(self.vars.env.to_env_list());
        config.history = self.history.entries;
        if !labels.is_empty() {
            config
                .config
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        config.os = self.platform.os.clone();
        config.architecture = self.platform.architecture.clone();
        config.variant = self.platform.image_variant();
        ImageTemplate {
            config,
            history_layers: self.history.layers,
        }
    }
}

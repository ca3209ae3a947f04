//! The hostile-input suite's vocabulary: what a case expects, where it may write, and the
//! steps that build or load what it made. The judging is `hostile_input.rs`'s.

use std::fs;
use std::path::{Path, PathBuf};

use super::{layer, oci_layout, Entry};

/// What one rbuild run must end with.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    Succeeds,
    /// Fails with a message containing this.
    Fails(&'static str),
    /// Either, but normally (a hostile shell script may legitimately fail).
    Either,
}
pub use Expect::*;

/// Where a case puts things: `case/` its inputs, `out/` its outputs, `outside/` what no
/// case may touch.
pub struct Place {
    pub case: PathBuf,
    pub out: PathBuf,
    pub outside: PathBuf,
}

pub type Steps = Vec<(Vec<String>, Expect)>;

/// A named case: sets up its inputs in a `Place` and says what to run.
pub type Case = (&'static str, fn(&Place) -> Steps);

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A build of `dockerfile` (bytes) in `case/` with `files`, judged by `expect`.
pub fn build(place: &Place, dockerfile: &[u8], files: &[(&str, &[u8])], expect: Expect) -> Steps {
    fs::create_dir_all(&place.case).unwrap();
    fs::write(place.case.join("Dockerfile"), dockerfile).unwrap();
    for (name, content) in files {
        let target = place.case.join(name);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, content).unwrap();
    }
    vec![(
        args(&["build", "--progress", "plain", &path(&place.case)]),
        expect,
    )]
}

pub fn load(place: &Place, archive: &Path, expect: Expect) -> Steps {
    let _ = place;
    vec![(args(&["load", "-t", "hostile:1", &path(archive)]), expect)]
}

/// An OCI layout of one layer made of `entries`, loaded.
pub fn load_layer(place: &Place, entries: &[Entry], expect: Expect) -> Steps {
    let layout = place.case.join("layout");
    oci_layout(&layout, &[layer(entries)], None);
    load(place, &layout, expect)
}

pub fn outside_name(place: &Place, name: &str) -> String {
    path(&place.outside.join(name))
}

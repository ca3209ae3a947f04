//! `rbuild debug`: the parsed syntax tree (BuildKit's dump format) and the lowered build
//! graph (Graphviz DOT), for people working on Dockerfiles or on rbuild itself.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use rbuild_cache::Store;

use crate::args::BuildArgs;
use crate::build;
use crate::diagnostics::engine_failure;

pub fn dump_ast(file: &Path) -> Result<()> {
    let source =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let dockerfile = rbuild_frontend::parser::parse(&source).map_err(|e| {
        let name = file.display().to_string();
        anyhow!(
            "{}",
            rbuild_frontend::diagnostic::Diagnostic::from_parse_error(&name, &source, &e).render()
        )
    })?;
    // BuildKit's dump has no final newline; a command's output line does.
    println!("{}", rbuild_frontend::dump::dump(&dockerfile));
    Ok(())
}

pub fn graph(store: &Store, args: &BuildArgs) -> Result<()> {
    let prepared = crate::build_context::PreparedContext::prepare(store, args)?;
    let request = build::request(args, &prepared)?;
    let definition = rbuild_engine::first_platform_definition(store, &request)
        .map_err(|e| engine_failure(&e, &request))?;
    print!("{}", rbuild_frontend::graph_dot(&definition));
    Ok(())
}

//! Test-only constructors of graph ops that several modules' unit tests share. Compiled
//! only for tests; production code builds ops from what the frontend lowers.

use crate::graph::{CopyOp, CopySource, Op, RemoteSource, VertexId};

/// `ADD <source> /dest/` on vertex 0, taking `path` from what the source fetches.
pub(crate) fn remote_add(source: RemoteSource, path: &str) -> Op {
    Op::Copy(CopyOp {
        parent: VertexId(0),
        source: CopySource::Remote(vec![source]),
        paths: vec![path.to_string()],
        dest: "/dest/".into(),
        chown: None,
        chmod: None,
        excludes: Vec::new(),
        unpack_archives: false,
        parents: false,
        link: false,
        more: Vec::new(),
    })
}

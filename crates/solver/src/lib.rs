//! Build graph, cache keys and the scheduler.

pub mod graph;

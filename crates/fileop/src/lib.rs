//! File operations with Docker's semantics, independent of how the filesystems they work on
//! are mounted: path patterns (.dockerignore rules), COPY source selection, copying onto a
//! root filesystem, scoped path resolution, and content digests of selected file sets.
//!
//! Nothing here mounts, forks or touches the store: callers hand in directories.

pub mod content_digest;
pub mod copy;
mod lexical;
pub mod memo;
pub mod patterns;
pub mod scoped;
pub mod select;

pub use content_digest::{
    digest_selection, digest_selection_with_files, DigestError, SelectionDigest,
};
pub use copy::{
    copy_into_root, extract_archive, make_dir_all, write_inline_files, CopyError, CopyOptions,
};
pub use lexical::clean_path;
pub use memo::{DigestMemo, FileStamp, InMemoryMemo, NoMemo};
pub use patterns::{glob_match, parse_ignore_file, PathPatterns, PatternError};
pub use scoped::{resolve_in_root, ScopeError};
pub use select::{
    select_sources, select_sources_excluding, EntryKind, SelectError, SelectOptions, SelectedEntry,
    SourceMatch,
};

//! Finding and reading the build context's ignore file: `<Dockerfile>.dockerignore` next to
//! the Dockerfile wins over `.dockerignore` at the context root, as in BuildKit.
//!
//! Pattern syntax and matching are `rbuild_fileop::patterns`'s; this module only picks the
//! file, reads it and checks its patterns compile.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rbuild_fileop::patterns::{parse_ignore_file, PathPatterns};

use crate::diagnostic::Diagnostic;
use crate::error::FrontendError;

/// The ignore patterns for building `context_dir` with `dockerfile_path`; empty when
/// neither file exists.
pub fn read_dockerignore(
    context_dir: &Path,
    dockerfile_path: &Path,
) -> Result<Vec<String>, FrontendError> {
    for path in candidates(context_dir, dockerfile_path) {
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(ignore_file_error(&path, "", 0, format!("cannot read: {e}"))),
        };
        let patterns = parse_ignore_file(&text);
        if let Err(e) = PathPatterns::new(&patterns) {
            return Err(ignore_file_error(
                &path,
                &text,
                bad_line(&text),
                e.to_string(),
            ));
        }
        return Ok(patterns);
    }
    Ok(Vec::new())
}

/// The first line of `text` holding a pattern that does not compile (0 if none alone).
fn bad_line(text: &str) -> usize {
    text.split('\n')
        .position(|line| {
            let patterns = parse_ignore_file(line);
            !patterns.is_empty() && PathPatterns::new(&patterns).is_err()
        })
        .map_or(0, |index| index + 1)
}

fn ignore_file_error(path: &Path, text: &str, line: usize, message: String) -> FrontendError {
    let file = path.display().to_string();
    FrontendError::Dockerignore(Box::new(Diagnostic::from_source(
        file, text, line, None, message,
    )))
}

/// Where to look, most specific first.
fn candidates(context_dir: &Path, dockerfile_path: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(name) = dockerfile_path.file_name() {
        let mut specific = name.to_os_string();
        specific.push(".dockerignore");
        paths.push(dockerfile_path.with_file_name(specific));
    }
    paths.push(context_dir.join(".dockerignore"));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path();
        std::fs::create_dir(context.join("docker")).unwrap();
        let dockerfile = context.join("docker/app.Dockerfile");
        std::fs::write(&dockerfile, "FROM scratch\n").unwrap();

        assert!(read_dockerignore(context, &dockerfile).unwrap().is_empty());

        std::fs::write(
            context.join(".dockerignore"),
            "# comment\nnode_modules\n*.log\n",
        )
        .unwrap();
        assert_eq!(
            read_dockerignore(context, &dockerfile).unwrap(),
            vec!["node_modules", "*.log"]
        );

        std::fs::write(
            context.join("docker/app.Dockerfile.dockerignore"),
            "target\n",
        )
        .unwrap();
        assert_eq!(
            read_dockerignore(context, &dockerfile).unwrap(),
            vec!["target"]
        );
    }

    #[test]
    fn invalid_patterns_and_unreadable_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path();
        let dockerfile = context.join("Dockerfile");
        std::fs::write(context.join(".dockerignore"), "# build output\ntarget\n[\n").unwrap();
        match read_dockerignore(context, &dockerfile) {
            Err(FrontendError::Dockerignore(d)) => {
                assert_eq!(d.file, context.join(".dockerignore").display().to_string());
                assert_eq!(d.line, 3);
                assert_eq!(d.source_line.as_deref(), Some("["));
            }
            other => panic!("expected a dockerignore error, got {other:?}"),
        }
        std::fs::remove_file(context.join(".dockerignore")).unwrap();
        std::fs::create_dir(context.join(".dockerignore")).unwrap();
        assert!(matches!(
            read_dockerignore(context, &dockerfile),
            Err(FrontendError::Dockerignore(_))
        ));
    }
}

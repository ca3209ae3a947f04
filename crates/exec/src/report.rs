//! The report channel from the sandbox init (and the processes it forks) back to `run`: a
//! pipe carrying newline-separated JSON messages. The init announces that it is about to
//! start the command, or says precisely why it could not (stage, errno, path), so `run` can
//! tell "the command exited 1" from "the sandbox never got that far".
//!
//! This module only encodes, sends and decodes messages; deciding what to report is the
//! init's business.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{SandboxError, SetupStage};

/// One message on the report pipe.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum InitMessage {
    /// Mountpoints PID 1 had to create on the root filesystem (container paths, outer
    /// first); they are removed from the upper dir after the run.
    MountpointsCreated(Vec<String>),
    /// Everything is set up; the command process is being forked.
    CommandStarting,
    Failed(InitFailure),
}

/// A `SandboxError` the init can produce, in a form that crosses a pipe.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum InitFailure {
    Setup {
        stage: SetupStage,
        path: PathBuf,
        detail: Option<String>,
        errno: i32,
    },
    InvalidSpec {
        reason: String,
    },
    UnknownUser {
        user: String,
    },
    UnknownGroup {
        group: String,
    },
    InvalidUser {
        user: String,
        reason: String,
    },
    ExecutableNotFound {
        executable: String,
        searched_path: bool,
    },
    ExecFailed {
        executable: String,
        errno: i32,
    },
    TimedOut {
        limit: std::time::Duration,
    },
    /// An error kind only the parent side produces; kept as text.
    Unexpected {
        message: String,
    },
}

fn errno_of(err: &std::io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

impl From<SandboxError> for InitFailure {
    fn from(err: SandboxError) -> Self {
        match err {
            SandboxError::Setup {
                stage,
                path,
                detail,
                source,
            } => InitFailure::Setup {
                stage,
                // Lossy, so that a non-UTF-8 path cannot make the report unserializable.
                path: path.to_string_lossy().into_owned().into(),
                detail,
                errno: errno_of(&source),
            },
            SandboxError::InvalidSpec { reason } => InitFailure::InvalidSpec { reason },
            SandboxError::UnknownUser { user } => InitFailure::UnknownUser { user },
            SandboxError::UnknownGroup { group } => InitFailure::UnknownGroup { group },
            SandboxError::InvalidUser { user, reason } => InitFailure::InvalidUser { user, reason },
            SandboxError::ExecutableNotFound {
                executable,
                searched_path,
            } => InitFailure::ExecutableNotFound {
                executable,
                searched_path,
            },
            SandboxError::ExecFailed { executable, source } => InitFailure::ExecFailed {
                executable,
                errno: errno_of(&source),
            },
            SandboxError::TimedOut { limit } => InitFailure::TimedOut { limit },
            other => InitFailure::Unexpected {
                message: other.to_string(),
            },
        }
    }
}

impl From<InitFailure> for SandboxError {
    fn from(failure: InitFailure) -> Self {
        let os_error = std::io::Error::from_raw_os_error;
        match failure {
            InitFailure::Setup {
                stage,
                path,
                detail,
                errno,
            } => SandboxError::Setup {
                stage,
                path,
                detail,
                source: os_error(errno),
            },
            InitFailure::InvalidSpec { reason } => SandboxError::InvalidSpec { reason },
            InitFailure::UnknownUser { user } => SandboxError::UnknownUser { user },
            InitFailure::UnknownGroup { group } => SandboxError::UnknownGroup { group },
            InitFailure::InvalidUser { user, reason } => SandboxError::InvalidUser { user, reason },
            InitFailure::ExecutableNotFound {
                executable,
                searched_path,
            } => SandboxError::ExecutableNotFound {
                executable,
                searched_path,
            },
            InitFailure::ExecFailed { executable, errno } => SandboxError::ExecFailed {
                executable,
                source: os_error(errno),
            },
            InitFailure::TimedOut { limit } => SandboxError::TimedOut { limit },
            InitFailure::Unexpected { message } => SandboxError::Protocol { reason: message },
        }
    }
}

/// The sending end, held by the init, PID 1 and the command process until it execs.
pub(crate) struct ReportSender {
    pipe: File,
}

impl ReportSender {
    pub(crate) fn new(fd: OwnedFd) -> Self {
        ReportSender {
            pipe: File::from(fd),
        }
    }

    /// Sends one message in a single `write` (messages are far below `PIPE_BUF`, so writers
    /// never interleave). Failures are ignored: if `run` stopped listening, nobody is left to
    /// tell.
    pub(crate) fn send(&self, message: &InitMessage) {
        if let Ok(mut line) = serde_json::to_vec(message) {
            line.push(b'\n');
            let _ = (&self.pipe).write_all(&line);
        }
    }

    pub(crate) fn fail(&self, err: SandboxError) {
        self.send(&InitMessage::Failed(err.into()));
    }
}

/// What the init reported before every writer closed the pipe.
#[derive(Debug, Default)]
pub(crate) struct InitReport {
    pub(crate) mountpoints_created: Vec<String>,
    pub(crate) command_started: bool,
    pub(crate) failure: Option<InitFailure>,
}

/// Reads the pipe to its end (all writers gone) and decodes every message.
pub(crate) fn read_report(fd: OwnedFd) -> Result<InitReport, SandboxError> {
    let mut bytes = Vec::new();
    File::from(fd)
        .read_to_end(&mut bytes)
        .map_err(|e| SandboxError::io("reading the sandbox init's report", e))?;
    parse_report(&bytes)
}

fn parse_report(bytes: &[u8]) -> Result<InitReport, SandboxError> {
    let mut report = InitReport::default();
    for line in bytes.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let message: InitMessage =
            serde_json::from_slice(line).map_err(|e| SandboxError::Protocol {
                reason: format!("{e}: {:?}", String::from_utf8_lossy(line)),
            })?;
        match message {
            InitMessage::MountpointsCreated(paths) => report.mountpoints_created.extend(paths),
            InitMessage::CommandStarting => report.command_started = true,
            InitMessage::Failed(failure) => {
                report.failure.get_or_insert(failure);
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn encode(messages: &[InitMessage]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for message in messages {
            bytes.extend(serde_json::to_vec(message).unwrap());
            bytes.push(b'\n');
        }
        bytes
    }

    #[test]
    fn a_setup_failure_keeps_stage_path_and_errno() {
        let sent = SandboxError::setup(
            SetupStage::ProcMount,
            "/proc",
            std::io::Error::from_raw_os_error(libc::EPERM),
        );
        let bytes = encode(&[InitMessage::Failed(sent.into())]);
        let report = parse_report(&bytes).unwrap();
        assert!(!report.command_started);
        let err = SandboxError::from(report.failure.unwrap());
        assert_eq!(
            err.setup_parts(),
            Some((SetupStage::ProcMount, Path::new("/proc"), Some(libc::EPERM)))
        );
    }

    #[test]
    fn a_timeout_crosses_the_pipe() {
        let limit = std::time::Duration::from_millis(1500);
        let bytes = encode(&[InitMessage::Failed(SandboxError::TimedOut { limit }.into())]);
        let err = SandboxError::from(parse_report(&bytes).unwrap().failure.unwrap());
        assert!(matches!(err, SandboxError::TimedOut { limit: l } if l == limit));
    }

    #[test]
    fn the_first_failure_wins_and_start_is_remembered() {
        let bytes = encode(&[
            InitMessage::CommandStarting,
            InitMessage::Failed(InitFailure::UnknownUser { user: "a".into() }),
            InitMessage::Failed(InitFailure::UnknownUser { user: "b".into() }),
        ]);
        let report = parse_report(&bytes).unwrap();
        assert!(report.command_started);
        assert_eq!(
            report.failure,
            Some(InitFailure::UnknownUser { user: "a".into() })
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert!(matches!(
            parse_report(b"{not json\n"),
            Err(SandboxError::Protocol { .. })
        ));
        assert!(parse_report(b"").unwrap().failure.is_none());
    }
}

//! Exit codes, the one error type that means "policy or verification said no" (exit 1) rather
//! than "something went wrong" (exit 2), and [`classify`], the one place that decides which an
//! error is by walking its typed causes (as ripgrep's `main` does, so nothing is decided from
//! message text).

use crate::pipeline::fetch::FetchError;
use crate::pipeline::{ArchiveError, UploadError};

/// The three outcomes a command can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything checked out.
    Ok = 0,
    /// A verification or policy check failed (the report says which).
    Failure = 1,
    /// Usage, configuration, I/O or cloud error.
    Error = 2,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A refusal on policy or verification grounds. Returned as an error so a pipeline stops, but
/// mapped to exit code 1, not 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Exit 1 if any cause in the chain is a refusal (a [`Refusal`], or a pipeline or upload error
/// whose typed cause is one), else 2.
pub fn classify(error: &anyhow::Error) -> Exit {
    let refusal = error.chain().any(|cause| {
        cause.downcast_ref::<Refusal>().is_some()
            || cause
                .downcast_ref::<ArchiveError>()
                .is_some_and(ArchiveError::is_refusal)
            || cause
                .downcast_ref::<UploadError>()
                .is_some_and(UploadError::is_refusal)
            || cause
                .downcast_ref::<FetchError>()
                .is_some_and(FetchError::is_refusal)
    });
    if refusal { Exit::Failure } else { Exit::Error }
}

/// Combine a command's exit with the fate of its stdout. A failed write of the result (disk
/// full, closed descriptor) is an error (exit 2): the user did not get what the exit code would
/// claim. A broken pipe (the reader stopped reading, as `| head` does) is not an error and never
/// turns a failure into success: the command's own exit stands.
pub fn with_stdout(exit: Exit, stdout: Option<std::io::ErrorKind>) -> Exit {
    match stdout {
        None | Some(std::io::ErrorKind::BrokenPipe) => exit,
        Some(_) => Exit::Error,
    }
}

//! Exit codes and the one error type that means "policy or verification said no" (exit 1)
//! rather than "something went wrong" (exit 2).

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

//! Running the real binary from a test: in a working directory, its output as one text, and
//! the exit code asserted (never a panic).

use std::path::Path;
use std::process::{Command, Output};

/// Run `wormvault ARGS` in `dir`.
pub fn wormvault(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wormvault"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run wormvault")
}

/// stdout then stderr, as one text for messages and `contains` checks.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The run exited with `expected`, and did not panic.
#[track_caller]
pub fn code(output: &Output, expected: i32) {
    assert_eq!(output.status.code(), Some(expected), "{}", text(output));
    assert!(!text(output).contains("panicked"), "{}", text(output));
}

//! The `wormvault` binary: parse arguments, run one command, map the outcome to an exit code
//! (0 ok, 1 verification or policy failure, 2 usage/config/IO/cloud error).

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = wormvault_cli_entry();
    ExitCode::from(code)
}

fn wormvault_cli_entry() -> u8 {
    use clap::Parser;
    let cli = match wormvault::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return code;
        }
    };
    wormvault::cli::run(cli)
}

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
            // With --json anywhere on the line, a usage error is a JSON line too (stderr then
            // carries only JSON, as for every other error); help and version stay text.
            if code == 2 && std::env::args_os().skip(1).any(|a| a == "--json") {
                let value = serde_json::json!({
                    "error": err.render().to_string().trim_end(),
                    "kind": "usage",
                    "exit_code": code,
                });
                eprintln!("{value}");
            } else {
                let _ = err.print();
            }
            return code;
        }
    };
    wormvault::cli::run(cli)
}

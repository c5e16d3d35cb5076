//! `wormvault canonical FILE`: show the exact bytes a hash or signature covers.

use std::path::PathBuf;

use anyhow::Context;

use crate::cli::Output;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON file to canonicalise ('-' for standard input).
    pub file: PathBuf,
    /// Use the spaced variant (`, ` and `: `, manifest signatures) instead of the compact one.
    #[arg(long)]
    pub spaced: bool,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading JSON from standard input")?
    } else {
        crate::limits::read_json_capped(
            &args.file,
            crate::limits::MAX_CANONICAL_INPUT_BYTES,
            "input file",
        )?
    };
    let value = crate::canonical::parse_strict(&text)
        .with_context(|| format!("{} is not valid JSON", args.file.display()))?;
    let rendered = if args.spaced {
        crate::canonical::spaced(&value)
    } else {
        crate::canonical::compact(&value)
    };
    let digest = crate::hashing::sha256_hex(rendered.as_bytes());
    output.result(
        &serde_json::json!({"canonical": rendered, "sha256": digest}),
        || rendered.clone(),
    );
    Ok(Exit::Ok)
}

//! `wormvault check-remote TARGET --receipts F`: compare what the store holds with receipts.

use std::path::PathBuf;

use crate::cli::Output;
use crate::cli::args::parse_target;
use crate::cli::common;
use crate::exit::Exit;
use crate::receipt::ReceiptSet;
use crate::store::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The target the receipts were made for (its prefix is taken from the receipts).
    #[arg(value_name = "TARGET", value_parser = parse_target)]
    pub target: Target,
    /// Receipts file written by `upload` or `archive`.
    #[arg(long)]
    pub receipts: PathBuf,
    /// Also download every object and re-hash it.
    #[arg(long)]
    pub rehash: bool,
    /// Trust root or trust-root bundle holding the key the receipts were signed with
    /// (`--receipts-key` at upload/archive): the receipts' signature is checked against it before
    /// the store is read, and unsigned or wrongly signed receipts are refused (exit 1). Without
    /// it the receipts are compared as given, and the result says their signature was not checked.
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
}

/// Whether the receipts compared against were vouched for by a pinned key.
#[derive(Debug, serde::Serialize)]
struct ReceiptsSignature {
    /// `verified` (against --trust-root) or `not_checked` (no --trust-root given).
    status: &'static str,
    detail: String,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    remote: &'a crate::remote::RemoteReport,
    receipts_signature: ReceiptsSignature,
}

pub fn run(args: Args, output: &Output) -> anyhow::Result<Exit> {
    let receipts = ReceiptSet::load(&args.receipts).map_err(anyhow::Error::msg)?;
    // No receipted object: nothing would be compared, and "store matches the receipts" would be
    // a success that checked nothing. An archive's receipts always list at least its manifest.
    if receipts.receipts.is_empty() {
        anyhow::bail!(
            "receipts {} list no objects: there is nothing to compare (an archive's receipts always list its manifest); pass the receipts the archive wrote",
            args.receipts.display()
        );
    }
    // Another target than the receipts' is a mistyped argument (exit 2), not a store that lost
    // every object: checking it would report each receipted object "missing".
    if crate::store::Target::parse(&receipts.target).ok().as_ref() != Some(&args.target) {
        anyhow::bail!(
            "receipts {} are for target {}, not {}; pass the target the session was archived to",
            args.receipts.display(),
            receipts.target,
            args.target
        );
    }
    // Who wrote the receipts, checked before the store is read: edited receipts compared with a
    // store edited to match would otherwise agree.
    let receipts_signature = match &args.trust_root {
        Some(path) => {
            let trust = crate::cli::args::load_trust_roots(path)?;
            match receipts.verify_signature(&trust) {
                Ok(key) => ReceiptsSignature {
                    status: "verified",
                    detail: format!(
                        "receipts signed by {} (verified against {})",
                        key.key_id,
                        path.display()
                    ),
                },
                Err(why) => {
                    return Err(anyhow::Error::new(crate::exit::Refusal(format!(
                        "receipts {}: signature not verified against {}: {why}; nothing was compared",
                        args.receipts.display(),
                        path.display()
                    ))));
                }
            }
        }
        None => ReceiptsSignature {
            status: "not_checked",
            detail: "the receipts' signature was not checked (no --trust-root): the store is compared with the receipts as given".into(),
        },
    };
    let (progress, bar) = if args.rehash {
        let total = receipts.receipts.iter().map(|r| r.bytes).sum();
        common::bytes_progress(output, total, "re-hashing")
    } else {
        (None, None)
    };
    let report = common::with_store(&args.target, async |store| {
        Ok(
            crate::remote::check_with_progress(store, &receipts, args.rehash, progress.as_ref())
                .await?,
        )
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    let shown = Report {
        remote: &report,
        receipts_signature,
    };
    output.result(&shown, || {
        let mut text = String::new();
        for finding in &report.findings {
            text.push_str(&format!(
                "{}: {}: {}\n",
                crate::cli::output::words(&finding.kind),
                finding.key,
                finding.detail
            ));
        }
        text.push_str(&format!(
            "{} receipted objects checked{} under {}: {}",
            report.objects_checked,
            if args.rehash {
                format!(", {} re-hashed", report.rehashed)
            } else {
                String::new()
            },
            report.session_prefix,
            if report.ok {
                "store matches the receipts"
            } else {
                "STORE DIFFERS FROM THE RECEIPTS"
            }
        ));
        if report.digests_recorded_only > 0 {
            text.push_str(&format!(
                "\nnote: the content of {} object(s) was not checked: for them the store reports no whole-object SHA-256 of its own, only the sha256 their writer recorded, which is what was compared; --rehash downloads and hashes them",
                report.digests_recorded_only
            ));
        }
        text.push_str(&format!(
            "\n{}: {}",
            if shown.receipts_signature.status == "verified" {
                "receipts"
            } else {
                "note"
            },
            shown.receipts_signature.detail
        ));
        text
    });
    Ok(if report.ok { Exit::Ok } else { Exit::Failure })
}

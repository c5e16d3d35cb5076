//! One integration-test binary (as ripgrep's `tests/tests.rs` and rustic's
//! `tests/integration.rs`): every module links the library and both cloud SDKs once instead of
//! once per file. Run one area with `cargo test --test it hostile::`.

mod support;

mod anchor_age;
mod archive;
mod audit;
mod audit_store;
mod audit_verdicts;
mod azure;
mod bundle;
mod canonical_python;
mod cavra_fidelity;
mod cli_conventions;
mod cred_endpoints;
mod examples;
mod faults;
mod forgery;
mod handoff_verdicts;
mod holds;
mod hostile;
mod input_files;
mod kms;
mod ops;
mod output;
mod pipeline;
mod readme;
mod remote_verdicts;
mod s3;
mod secrets;
mod smoke;
mod status_verdicts;
mod tiles;
mod vault;

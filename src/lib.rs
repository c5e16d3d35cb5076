//! wormvault: verify release evidence (CAVRA-compatible bundles and hash-chained audit logs),
//! refuse anything below the regulated retention minimum, plan where each object goes, write it
//! create-only into write-once storage (S3 Object Lock, Azure immutable blobs, or a local WORM
//! vault), read every object back into receipts, and package it all for an auditor.
//!
//! The pipeline, top to bottom: [`bundle`] / [`audit`] verify → [`retention`] gates →
//! [`plan`] decides → [`store`] writes and reads back → [`receipt`] records what the store says.

pub mod audit;
pub mod aws_endpoints;
pub mod bundle;
pub mod canonical;
pub mod cli;
pub mod demo;
pub mod drill;
pub mod exit;
pub mod fs;
pub mod handoff;
pub mod handoff_html;
pub mod hashing;
pub mod hold;
pub mod limits;
pub mod pipeline;
pub mod readbuf;
pub mod readiness;
pub mod recovery;
pub mod remote;
pub mod retention;
pub mod status;
pub mod store;
#[cfg(any(test, feature = "conformance"))]
pub mod test_support;
pub mod trust;

// The pipeline's modules moved into `pipeline/`; these paths stay so callers elsewhere keep
// compiling unchanged.
pub use pipeline as archive;
pub use pipeline::{plan, receipt, upload};

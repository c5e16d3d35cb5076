#!/usr/bin/env bash
# The README's test command. (Placeholder until the emulator harness lands: runs the unit and
# CLI tests only.)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets

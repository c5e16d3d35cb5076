#!/usr/bin/env bash
# Build a static x86_64-unknown-linux-musl release binary of wormvault and check it:
#
#   bash scripts/build-static.sh            # -> target/x86_64-unknown-linux-musl/release/wormvault
#
# Installs what it needs when missing: the Rust musl target (rustup) and a musl C compiler
# (Debian's musl-tools, for the crates that build C: aws-lc-sys, ring). It then checks that the
# result is statically linked and runs `wormvault --version` and `wormvault demo` with it.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl

if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
if ! command -v musl-gcc >/dev/null; then
  if [[ $(id -u) == 0 ]]; then
    apt-get update -qq && apt-get install -y -qq musl-tools
  else
    echo "build-static.sh: musl-gcc not found; install Debian's musl-tools" >&2
    exit 2
  fi
fi

CC_x86_64_unknown_linux_musl=musl-gcc \
  cargo build --release --locked --target "$target" --bin wormvault
bin="target/$target/release/wormvault"

# A static binary has no program interpreter and no NEEDED libraries.
if readelf -l "$bin" | grep -q 'Requesting program interpreter' || readelf -d "$bin" | grep -q NEEDED; then
  echo "build-static.sh: $bin is dynamically linked" >&2
  exit 1
fi
"$bin" --version
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && "$OLDPWD/$bin" demo >/dev/null)
echo "static binary: $bin ($(du -h "$bin" | cut -f1)), demo passed"

#!/usr/bin/env bash
# Builds swift-bon (installing cmake, libclang and pip with apt-get when missing) and runs it
# with the given arguments. The first build compiles llama.cpp and takes about 5 minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$root/scripts/install-prereqs.sh"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
export SWIFT_BON_MODELS="${SWIFT_BON_MODELS:-$root/models}"
exec "$root/target/release/swift-bon" "$@"

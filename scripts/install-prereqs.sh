#!/usr/bin/env bash
# Installs what building and running swift-bon needs beyond Rust, if it is missing:
# cmake and libclang (llama.cpp's build and bindgen), a C/C++ compiler, and Python 3 with pip
# (models are fetched by package name with pip). Debian/Ubuntu via apt-get; elsewhere it only
# reports what is missing. Idempotent and quiet when everything is present.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
# bindgen loads libclang at build time.
if ! { ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so'; } && [ -z "${LIBCLANG_PATH:-}" ]; then
  missing+=(clang libclang-dev)
fi
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)

[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "swift-bon: installing build prerequisites: ${missing[*]}" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
else
  echo "swift-bon: please install: ${missing[*]} (cmake, libclang, a C++ compiler, python3 with pip)" >&2
  exit 1
fi

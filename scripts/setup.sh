#!/usr/bin/env bash
# Installs what pcache needs on Debian 12 (packages from Debian only) and builds
# it into build/. Safe to run again: apt skips what is there, the build is
# incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ ninja-build pkg-config
  libtorch-dev            # libtorch 1.13 (CPU)
  libopenblas0-pthread    # without it libtorch falls back to the reference BLAS (~30x slower)
  libsentencepiece-dev libyaml-cpp-dev libpugixml-dev nlohmann-json3-dev libcli11-dev
  libxxhash-dev libzstd-dev libboost-test-dev
  libcpp-httplib-dev      # pcache serve's HTTP server (docs/architecture.md says why this one)
  libpcre2-dev libutf8proc-dev  # tokenizer.json: pre-tokenizer regexes, Unicode normalization
  libhiredis-dev          # the remote tier's Redis client
  libedit-dev             # pcache chat's line editing and history
  python3                 # the command line's tests on a pseudo-terminal (src/cli/terminal_test.py)
  redis-server            # for the remote tier's tests (each starts its own on a free port)
)
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the OpenAI client test of pcache serve (tests/server);
# any node >= 18 already on PATH will do.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
echo "built: ./build/pcache"

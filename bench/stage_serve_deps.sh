#!/bin/bash
# Adds to .device-deps what `pcache serve` and bench/serve_load need on the GPU
# machine, which lacks them: Debian 12's cpp-httplib and the libraries its
# pkg-config file requires (OpenSSL, zlib, brotli; about 6 MB). Run here after
# ../shared/device/stage.sh, from the project's root:
#   bash ../shared/device/stage.sh fixtures tiny-mistral && bash bench/stage_serve_deps.sh
# With --tokenizer-only, the staged fixture keeps only what a random-weights
# run reads (configs, tokenizer.model), so that the run stays under 64 MiB.
set -e
top=$(git rev-parse --show-toplevel)
deps="$top/.device-deps"
[ -d "$deps" ] || { echo "stage ../shared/device/stage.sh first"; exit 1; }
(cd "$deps" && apt-get download libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libssl3 zlib1g-dev \
   libbrotli-dev libbrotli1 2>/dev/null)
if [ "${1:-}" = --tokenizer-only ]; then
  find "$deps/fixtures" -name '*.safetensors' -delete
fi
du -sh "$deps"

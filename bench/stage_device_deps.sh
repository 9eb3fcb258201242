#!/bin/bash
# Adds to .device-deps what this project needs on the GPU machine beyond
# ../shared/device/stage.sh's libraries: hiredis (the remote tier), PCRE2 and
# utf8proc (tokenizer.json), libedit (pcache chat), which every build needs, and Debian 12's
# cpp-httplib with the libraries its pkg-config file requires (OpenSSL, zlib,
# brotli; about 6 MB) for `pcache serve` and bench/serve_load. Run here after ../shared/device/stage.sh, from the
# project's root:
#   bash ../shared/device/stage.sh fixtures tiny-mistral && bash bench/stage_device_deps.sh
# With --tokenizer-only, the staged fixture keeps only what a random-weights
# run reads (configs, tokenizer.model), so that the run stays under 64 MiB;
# with --redis, Debian's redis-server comes too (run_gpu.sh's `remote` step).
set -e
top=$(git rev-parse --show-toplevel)
deps="$top/.device-deps"
[ -d "$deps" ] || { echo "stage ../shared/device/stage.sh first"; exit 1; }
(cd "$deps" && apt-get download libhiredis-dev libhiredis0.14 libpcre2-dev libpcre2-8-0 libpcre2-16-0 \
   libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2 libedit-dev libedit2 libbsd0 libmd0 libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libssl3 zlib1g-dev \
   libbrotli-dev libbrotli1 2>/dev/null)
for flag in "$@"; do
  case "$flag" in
    --tokenizer-only) find "$deps/fixtures" -name '*.safetensors' -delete ;;
    --redis) (cd "$deps" && apt-get download redis-server redis-tools libjemalloc2 liblzf1 liblua5.1-0 \
                2>/dev/null) ;;  # the `remote` step of run_gpu.sh; about 1.5 MB
  esac
done
du -sh "$deps"

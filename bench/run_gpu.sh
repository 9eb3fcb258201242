#!/bin/bash
# The GPU figures of docs/benchmarks.md, reproduced on the GPU machine (see
# ../shared/device/README.md). Stage here, from the project's root, and carry .device-deps:
#   bash ../shared/device/stage.sh fixtures tiny-mistral && bash bench/stage_device_deps.sh --tokenizer-only
# (the second command is needed: without it cmake stops at libpcre2-8). The tree with the demo
# model is 37 MB and the libraries 22 MB, so a fixture's weights (tiny-mistral 16.4 MB) no longer
# fit a run's 64 MiB beside them: --tokenizer-only keeps what the benchmarks and the demo model's
# CUDA cases read; `cuda-tests` says which fixture cases were skipped. The fixture's own CUDA
# cases need a run with the demo model moved out of the tree (here, for that run); the whole
# ctest (`test`) needs both and no longer fits one run. Benchmarks, for example:
#   bash bench/run_gpu.sh build mistral hf-mistral llama hf-llama
# Each step writes its log and JSON under $OUT (default bench/results/raw).
# Steps: build | test | cuda-tests | concurrency (pcache bench --concurrency at the
# Mistral-7B shape; CONCURRENCY, CONCURRENCY_TAG, CONCURRENCY_ARGS such as "--weights int8") | serve (pcache serve under bench/serve_load at that shape) | remote
# (bench/remote_tier on a local Redis at that shape) | mistral | llama (pcache bench at that 7B
# shape with random bfloat16 weights) | hf-mistral | hf-llama (the
# transformers baseline at the same shape) | quick (a short pcache bench; QUICK_TOKENS,
# QUICK_TAG, QUICK_ARGS such as "--weights int8-zp") |
# train (the demo model, issue 15: the `local` variant; TRAIN_VARIANTS, TRAIN_MINUTES, TRAIN_DATA,
# TRAIN_ARGS, TRAIN_GPUS).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/raw}
mkdir -p "$OUT"
source .device-deps/env.sh
FIX=$PWD/.device-deps/fixtures
TOK=$FIX/tiny-mistral/tokenizer.model
BENCH_ARGS=${BENCH_ARGS:-}

pcache_shape() {  # name config
  ./build-gpu/pcache bench --model "$FIX/configs/$2" --random-weights --tokenizer "$TOK" \
    --device cuda --dtype bfloat16 --name "$1" --out "$OUT/pcache-h100-$1.json" $BENCH_ARGS \
    2>&1 | tee "$OUT/pcache-h100-$1.log"
}
hf_shape() {  # name config
  python3 bench/hf_baseline.py --config "$FIX/configs/$2" --tokenizer "$TOK" --name "$1" \
    --out "$OUT/hf-h100-$1.json" 2>&1 | tee "$OUT/hf-h100-$1.log"
}

for step in "$@"; do
  echo "== $step $(date -u +%T)"
  case "$step" in
    build)
      cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPCACHE_FIXTURES_DIR="$FIX" \
        > "$OUT/build.log" 2>&1 && cmake --build build-gpu -j16 >> "$OUT/build.log" 2>&1 \
        || { tail -60 "$OUT/build.log"; exit 1; } ;;
    test)
      PCACHE_FIXTURES="$FIX" ctest --test-dir build-gpu -j4 --timeout 300 --output-on-failure > "$OUT/ctest.log" 2>&1
      grep -E "tests passed|Failed|error" "$OUT/ctest.log" | head -40 ;;
    cuda-tests)
      for t in paged_attention_test paged_forward_test fused_ops_test step_graphs_test llama_cuda_test; do
        PCACHE_FIXTURES="$FIX" ./build-gpu/src/model/model_tests --run_test=$t 2>&1 | tail -12
      done
      # Overlapped decode steps, asynchronous on the GPU (scheduler_test's CUDA case).
      PCACHE_FIXTURES="$FIX" ./build-gpu/src/runtime/runtime_tests --run_test=scheduler_test 2>&1 | tail -12 ;;
    quick)
      ./build-gpu/pcache bench --model "$FIX/configs/mistral-7b-instruct-v0.3.json" --random-weights \
        --tokenizer "$TOK" --device cuda --dtype bfloat16 --module-tokens ${QUICK_TOKENS:-4096,16384} \
        --new-tokens 32 --repeats 5 --decode-repeats 2 ${QUICK_ARGS:-} --out "$OUT/quick${QUICK_TAG:-}.json" 2>&1 | tail -8 ;;
    train)
      # The demo model (issue 15): tools/train_model.py with its defaults (the `local` variant,
      # 384x8, the pruned tokenizer tools/demo_tokenizer.model), TRAIN_MINUTES of training (a
      # run takes about 1.5 minutes more: start, save, checks; TRAIN_DATA=v3: the v3 training data of
      # tools/restaurant_data.py, tried and not shipped, docs/accuracy.md, or stages in turn such as
      # TRAIN_DATA="v2:0.3,v14:0.7" (shares of the time); TRAIN_ARGS: more trainer
      # options; TRAIN_GPUS=N: data parallel over N GPUs of the machine). TRAIN_VARIANTS="causal local"
      # trains both side by side, sharing the GPU. Each comes back as a tar in parts of 15 MiB (a
      # device run returns at most 8 files of 16 MiB): rebuild here with
      #   cat pcache-demo-local.tar.part* | tar x -C /tmp && mv /tmp/pcache-demo-local models/pcache-demo
      # A trainer still running 2.5 minutes after its budget (the held-out check) is stopped, so
      # that the tar is always written. The model is also kept in build-gpu/trained/, which a
      # later call on the same warm machine finds (a call lasts at most 10 minutes): continue it
      # there with TRAIN_ARGS="--init build-gpu/trained/pcache-demo-local --lr 1e-3". If the machine
      # went back between the calls, rebuild the tar into build-gpu/trained/ here and carry that
      # folder (with the demo model moved out of the tree for the call, to fit the 64 MiB).
      for v in ${TRAIN_VARIANTS:-local}; do
        PYTHONUNBUFFERED=1 timeout $(python3 -c "print(int(${TRAIN_MINUTES:-7} * 60 + 150))") \
          torchrun --standalone --nproc_per_node=${TRAIN_GPUS:-1} tools/train_model.py --variant $v --tokenizer tools/demo_tokenizer.model --data ${TRAIN_DATA:-v2} ${TRAIN_ARGS:-} \
          --out /tmp/models/pcache-demo-$v --minutes ${TRAIN_MINUTES:-7} --loss-png "$OUT/loss-$v.png" \
          > "$OUT/train-$v.log" 2>&1 &
      done
      wait
      for v in ${TRAIN_VARIANTS:-local}; do
        grep -v '"step"' "$OUT/train-$v.log" | tail -n 6
        # Without a model, the trainer's own error is at the top, above torchrun's report.
        [ -f /tmp/models/pcache-demo-$v/reference.json ] || { grep -m 3 -E "error|Error" "$OUT/train-$v.log"; continue; }
        tar cf - -C /tmp/models pcache-demo-$v | split -b 15m - "$OUT/pcache-demo-$v.tar.part"
        mkdir -p build-gpu/trained && rm -rf build-gpu/trained/pcache-demo-$v &&
          cp -r /tmp/models/pcache-demo-$v build-gpu/trained/
      done ;;
    concurrency)
      # Issue 13: requests at once over one shared 2048-token module, 32-token questions,
      # 128 tokens generated each. Two warm-up rounds: the second captures the questions' extend
      # graph (model/step_graphs.h), which the timed rounds then replay.
      ./build-gpu/pcache bench --model "$FIX/configs/mistral-7b-instruct-v0.3.json" --random-weights \
        --tokenizer "$TOK" --device cuda --dtype bfloat16 --concurrency ${CONCURRENCY:-1,4,16,64} \
        --module-tokens 2048 --new-tokens 32 --decode-tokens 128 --warmup 2 --repeats 2 \
        ${CONCURRENCY_ARGS:-} --out "$OUT/concurrency${CONCURRENCY_TAG:-}.json" 2>&1 | tail -8 ;;
    serve)
      # Issue 14: pcache serve at the Mistral-7B shape (random weights) under bench/serve_load:
      # streamed chat over a shared ~1.5k-word system prompt and PML over a shared ~1.5k-word
      # module, 24-word questions, 128 tokens each, at concurrency ${SERVE_CONCURRENCY:-1,8,32}.
      # Needs bench/stage_device_deps.sh staged (cpp-httplib).
      ./build-gpu/pcache serve --model "$FIX/configs/mistral-7b-instruct-v0.3.json" --random-weights \
        --tokenizer "$TOK" --device cuda --dtype bfloat16 --port 18080 --max-concurrent 64 \
        --model-name mistral-7b-random > "$OUT/serve-h200.log" 2>&1 &
      server=$!
      for _ in $(seq 600); do grep -q "listening on" "$OUT/serve-h200.log" && break; sleep 1; done
      ./build-gpu/bench/serve_load --url http://127.0.0.1:18080 --concurrency ${SERVE_CONCURRENCY:-1,8,32} \
        --requests ${SERVE_REQUESTS:-64} --max-tokens 128 --prefix-words 1500 --module-words 1500 \
        --question-words 24 --warmup 4 --out "$OUT/serve-h200.json" 2>&1 | tee "$OUT/serve-h200.txt"
      kill -TERM $server; wait $server; tail -3 "$OUT/serve-h200.log" ;;
    remote)
      # Issue 16: modules of the Mistral-7B shape (random weights) loaded from a local Redis
      # against encoded on the GPU, bf16 and int8 K/V. Needs redis-server and its libraries
      # staged (bench/stage_device_deps.sh --redis).
      export PATH=/opt/deps/usr/bin:$PATH
      redis-server --port 7391 --save "" --appendonly no --daemonize yes --dir /tmp > /dev/null
      ./build-gpu/bench/remote_tier "$FIX/configs/mistral-7b-instruct-v0.3.json" --random-weights \
        --tokenizer "$TOK" --device cuda --dtype bfloat16 --remote redis://127.0.0.1:7391 \
        --modules 4 --words 1500 --repeats 3 2>&1 | tee "$OUT/remote-h200.txt"
      redis-cli -p 7391 shutdown nosave ;;
    mistral) pcache_shape mistral-7b-instruct-v0.3 mistral-7b-instruct-v0.3.json ;;
    llama) pcache_shape llama-2-7b llama-2-7b.json ;;
    hf-mistral) hf_shape mistral-7b-instruct-v0.3 mistral-7b-instruct-v0.3.json ;;
    hf-llama) hf_shape llama-2-7b llama-2-7b.json ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
done

#!/bin/sh
# Saved states through Redis from the command line (ctest cli.chat_remote):
# `pcache chat --save-remote NAME` in one process, `--load-remote NAME` in
# another (as a second replica would), on a redis-server this script starts
# on a free localhost port in a temporary folder and stops at the end.
#
#   chat_remote_test.sh PCACHE MODEL_DIR
set -u
pcache=$1
model=$2
dir=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; fi; rm -rf "$dir"' EXIT
fail() {
  echo "not ok: $*"
  exit 1
}

# A port no one holds: a server that cannot bind exits, and the next port is tried.
for try in 1 2 3 4 5 6 7 8 9 10; do
  port=$((20000 + ($$ * 7 + try * 131) % 40000))
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no >"$dir/redis.log" 2>&1 &
  pid=$!
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    kill -0 "$pid" 2>/dev/null || break
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && redis-cli -p "$port" ping >/dev/null 2>&1 && break
  kill "$pid" 2>/dev/null
  pid=
done
[ -n "$pid" ] || fail "cannot start redis-server (scripts/setup.sh installs it)"
remote=redis://127.0.0.1:$port
# A loaded machine (CI) must not make Redis look down: a generous timeout.
printf 'cache:\n  remote_timeout_ms: 20000\n' >"$dir/config.yaml"
PCACHE_CONFIG=$dir/config.yaml
export PCACHE_CONFIG

printf 'Do you have a table?\n' | "$pcache" chat --model "$model" --system 'You are a host.' \
  --max-tokens 4 --remote "$remote" --save-remote table-7 2>"$dir/save.err" >/dev/null ||
  fail "chat --save-remote: $(cat "$dir/save.err")"
grep -q "saved to the remote tier as table-7" "$dir/save.err" || fail "no save message: $(cat "$dir/save.err")"

printf 'And dessert?\n' | "$pcache" chat --model "$model" --remote "$remote" --load-remote table-7 \
  --max-tokens 4 --json >"$dir/load.out" 2>"$dir/load.err" || fail "chat --load-remote: $(cat "$dir/load.err")"
grep -q '"cached_tokens":[1-9]' "$dir/load.out" || fail "the loaded state was not reused: $(cat "$dir/load.out")"

# A name nothing was saved under, and no remote tier: errors that say so.
if printf 'Hi\n' | "$pcache" chat --model "$model" --remote "$remote" --load-remote nothing 2>"$dir/err"; then
  fail "--load-remote of a missing name succeeded"
fi
grep -q "nothing" "$dir/err" || fail "the error does not name the state: $(cat "$dir/err")"
if printf 'Hi\n' | "$pcache" chat --model "$model" --load-remote table-7 2>"$dir/err"; then
  fail "--load-remote without --remote succeeded"
fi
grep -qi "remote" "$dir/err" || fail "the error does not name the remote tier: $(cat "$dir/err")"
echo "all passed"

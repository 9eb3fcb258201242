#!/bin/sh
# One decode speed for one run: the status line on stderr and --timings'
# sample row print the same tokens/s (both the tokens after the first over
# their time, as --json's decode_tokens_per_s).
# Usage: status_line_test.sh PCACHE MODEL
set -e
out=$("$1" generate -m "$2" -p "Hello there" -n 12 --ignore-eos --timings 2>&1 >/dev/null)
echo "$out"
line=$(echo "$out" | sed -n 's/.*generated 12 tokens, decode \([0-9.]*\) tok\/s.*/\1/p')
row=$(echo "$out" | awk '$1 == "sample" { print $4 }')
if [ -n "$line" ] && [ "$line" = "$row" ]; then echo "same decode speed: $line tok/s"; else echo "not ok: '$line' vs '$row'"; fi

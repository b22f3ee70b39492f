#!/usr/bin/env bash
# Runs every cargo-fuzz target for RUNS inputs (default 10 million) on nightly, one after another,
# and prints one line per target: inputs, seconds, and whether it ended clean. A crash, a leak,
# an allocation of 1 MiB or more from one input (no decoder here needs that for a ≤ 4 KiB input)
# or an RSS over 1 GiB stops that target and keeps the input under artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")"
runs="${1:-10000000}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets < <(cargo +nightly fuzz list)
cargo +nightly fuzz build -O >/dev/null 2>&1 || { echo "build failed"; exit 1; }
# A first run starts from the structure-aware fuzzers' valid inputs (tests/fuzz_decoders), so
# libFuzzer mutates real transactions, shreds and votes rather than discovering their shape.
if [ ! -d corpus ]; then
  (cd .. && BLACKBOOK_FUZZ_CORPUS="$PWD/fuzz/corpus" BLACKBOOK_FUZZ_CASES=1000 \
    cargo test -q --test fuzz_decoders >/dev/null 2>&1) || echo "seeding the corpus failed; starting empty"
fi
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  start=$(date +%s)
  if cargo +nightly fuzz run -O "$t" -- -runs="$runs" -max_len=4096 \
      -malloc_limit_mb=1 -rss_limit_mb=1024 -print_final_stats=1 >"$log" 2>&1; then
    verdict=clean
  else
    verdict="FAILED (see artifacts/$t)"
    failed=1
    tail -30 "$log"
  fi
  done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  peak=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$')
  printf '%-18s %12s inputs %6ss peak RSS %5s MiB  %s\n' "$t" "${done_runs:-?}" \
    "$(( $(date +%s) - start ))" "${peak:-?}" "$verdict"
  rm -f "$log"
done
exit $failed

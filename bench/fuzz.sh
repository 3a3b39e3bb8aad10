#!/bin/bash
# bench/fuzz.sh [SECONDS=600] [TARGET…] — fuzz vnet's parsers of outside data
# with cargo-fuzz (libFuzzer), one job at a time, each target for SECONDS:
#   lab_yaml, lab_toml         the lab file: parser and validator
#   import_shell, import_batch, import_clab   `vnet import` of each kind of input
# Each starts from its corpus in fuzz/corpus/TARGET (kept in the repository;
# what a run finds is added, then the corpus is minimized to a set of inputs
# covering the same edges) and prints its executions, time and crashes. A crash leaves its
# input in fuzz/artifacts/TARGET and makes the script exit 1.
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs
# cargo-fuzz from crates.io when it is missing. No root needed.
set -euo pipefail
SECS=${1:-600}
shift || true
cd "$(dirname "$0")/.."
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(lab_yaml lab_toml import_shell import_batch import_clab)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/logs
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
# The smallest set of inputs that covers the same edges (counters and value
# profiles off: a feature-complete set is ten times larger), so the corpus
# kept in the repository stays small.
minimize() {
  local bin=fuzz/target/$triple/release/$1 tmp=fuzz/corpus/.$1.min
  rm -rf "$tmp" && mkdir -p "$tmp"
  if "$bin" -merge=1 -set_cover_merge=1 -use_counters=0 -use_value_profile=0 \
      "$tmp" fuzz/corpus/"$1" >>fuzz/logs/"$1".log 2>&1; then
    rm -rf fuzz/corpus/"$1" && mv "$tmp" fuzz/corpus/"$1"
  else
    rm -rf "$tmp"
  fi
}
status=0
for t in "${TARGETS[@]}"; do
  case $t in
    lab_*) dict=fuzz/dict/lab.dict ;;
    import_clab) dict=fuzz/dict/clab.dict ;;
    *) dict=fuzz/dict/shell.dict ;;
  esac
  log=fuzz/logs/$t.log
  before=$(ls fuzz/corpus/"$t" | wc -l)
  # -max_len keeps the corpus small and each input quick; the parsers'
  # size limits are tested apart (tests/lab_file.rs). -rss_limit_mb and
  # -timeout make a memory blow-up or a hang a failure, like a panic.
  rc=0
  (cd fuzz && cargo +nightly fuzz run --release "$t" "corpus/$t" -- \
      -max_total_time="$SECS" -max_len=4096 -dict="../$dict" \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1) >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 || true)
  execs=$(grep '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  crashes=$(ls fuzz/artifacts/"$t" 2>/dev/null | wc -l)
  minimize "$t"
  after=$(ls fuzz/corpus/"$t" | wc -l)
  size=$(cat fuzz/corpus/"$t"/* | wc -c)
  echo "$t: ${execs:-?} executions in ${SECS} s (${runs:-no summary}), crashes: $crashes, exit $rc; corpus $before → $after files ($((size / 1024)) KiB)"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then status=1; tail -30 "$log"; fi
done
exit $status

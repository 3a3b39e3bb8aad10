#!/bin/bash
# bench/chaos.sh — the reliability suite (tests/reliability) at full length,
# with its figures: the same cases `cargo test` runs in CI, scaled up.
#   crash        KILLS SIGKILLs (200) of `vnet up` of a NODES-node lab (200) at
#                random moments, each followed by `down` or by `up` again:
#                leaks found (namespaces, interfaces, mounts, state files, locks);
#                and DOWN_KILLS (50) SIGKILLs of `vnet down` of the same lab
#   faults       a fault at every kernel operation of a FAULT_NODES-node lab's
#                bring-up (50), of its `down`, and of a reconcile
#   foreign      look-alike objects, checked one by one through refusals, up,
#                reconcile, status, down and FOREIGN_KILLS (20) crashes
#   concurrency  4 labs up and down in parallel for ROUNDS rounds (50); the same
#                lab twice at once and down during up, SAME_ROUNDS each (20)
#   memory       CYCLES up/down cycles (1000) in one process: RSS, fds, mounts
#   files        state-file modes, planted symlinks, junk, no privilege
# Every case runs in its own sandbox (new network and mount namespace, private
# /run): the host's network is never touched. Needs root, unshare, nsenter,
# iproute2, iputils-ping, python3. VNET_SEED=N replays the random moments.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/chaos.sh builds networks (each in a sandbox) and needs root" >&2; exit 1; }
export VNET_KILLS=${KILLS:-200} VNET_CRASH_NODES=${NODES:-200} VNET_FAULT_NODES=${FAULT_NODES:-50}
export VNET_FOREIGN_KILLS=${FOREIGN_KILLS:-20} VNET_ROUNDS=${ROUNDS:-50} VNET_SAME_ROUNDS=${SAME_ROUNDS:-20}
export VNET_CYCLES=${CYCLES:-1000} VNET_DOWN_KILLS=${DOWN_KILLS:-50}
bin=$(cargo test --release --locked --test reliability --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("target", {}).get("name") == "reliability" and m.get("executable"):
        print(m["executable"])')
mkdir -p target/chaos
echo "kernel $(uname -r), $(nproc) cores; release build; $(date -u +%F)"
status=0
# The ignored tests are helpers that the others run inside a sandbox.
ignored=$("$bin" --list --ignored 2>/dev/null | sed -n 's/: test$//p')
for t in $("$bin" --list 2>/dev/null | sed -n 's/: test$//p'); do
  grep -qx "$t" <<<"$ignored" && continue
  log=target/chaos/${t//::/.}.log
  start=$(date +%s.%N)
  rc=0
  "$bin" --exact "$t" --test-threads=1 --nocapture >"$log" 2>&1 || rc=$?
  secs=$(awk "BEGIN { print $(date +%s.%N) - $start }")
  # A test's first line of figures follows libtest's "test NAME ... ".
  grep -o 'reliability: .*' "$log" | sed 's/^reliability: /  /' || true
  if [ "$rc" -eq 0 ]; then
    printf 'ok    %-80s %6.1f s\n' "$t" "$secs"
  else
    printf 'FAIL  %-80s %6.1f s (log: %s)\n' "$t" "$secs" "$log"
    grep -m5 -A5 'panicked' "$log" || tail -20 "$log"
    status=1
  fi
done
exit $status

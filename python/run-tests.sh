#!/bin/sh
# Run the Python package's tests inside a throwaway network and mount
# namespace (its own /run, so /run/netns and /run/vnet are its own), as the
# Rust tests do: labs are built there and never touch the machine's network.
# As root, plain namespaces; as anyone else, inside a user namespace.
# Arguments go to pytest.
set -eu
# From tests/: the source tree's vnet/ (no extension built in) must not
# shadow the installed package.
cd "$(dirname "$0")/tests"
if [ "$(id -u)" = 0 ] && [ "$(cat /proc/self/uid_map | tr -s ' ')" = " 0 0 4294967295" ]; then
  userns=""
else
  userns="--user --map-root-user"
fi
# shellcheck disable=SC2086
exec unshare $userns --net --mount --propagation private -- sh -c '
  set -e
  mount -t tmpfs -o mode=755 tmpfs /run
  mkdir -p /run/netns /run/lock
  umount -l /sys 2>/dev/null || true
  mount -t sysfs sysfs /sys
  ip link set lo up
  VNET_SANDBOX=1 exec python3 -m pytest "$@"
' run-tests "$@"

#!/usr/bin/env bash
# Applies BlackBook's kernel settings now (and, with --persist, at boot). Run as root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "$(id -u)" -ne 0 ]; then echo "tune.sh: run as root" >&2; exit 1; fi
sysctl -q -p "$here/sysctl.conf"
if [ "${1:-}" = "--persist" ]; then
  install -m 0644 "$here/sysctl.conf" /etc/sysctl.d/60-blackbook.conf
  echo "installed /etc/sysctl.d/60-blackbook.conf"
fi
echo "UDP buffers: rmem_max=$(sysctl -n net.core.rmem_max) wmem_max=$(sysctl -n net.core.wmem_max)"
# CPU isolation for the PoH core is a boot-time choice: add e.g. `isolcpus=2 nohz_full=2 rcu_nocbs=2`
# to the kernel command line and set performance.pin_cores = true; PoH then takes the isolated core.
if [ -r /sys/kernel/mm/transparent_hugepage/enabled ]; then
  echo "transparent hugepages: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
fi

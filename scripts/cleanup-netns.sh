#!/usr/bin/env bash
# Removes network namespaces left behind by crashed test runs. Only names starting with the prefix
# (default "vxut-") are considered; nothing else on the host is touched.
#
# Test namespaces are named vxut-<pid>-<tag>-<host>: one whose <pid> is still running belongs to a live test
# run and is kept, unless --all is given. Processes still inside a removed namespace are killed (by PID, from
# `ip netns pids`): only our test runs start processes there.
#
# usage: scripts/cleanup-netns.sh [--all] [PREFIX]
set -euo pipefail

all=0
if [ "${1:-}" = "--all" ]; then all=1; shift; fi
prefix=${1:-vxut-}
[ -n "$prefix" ] || { echo "cleanup-netns: refusing an empty prefix" >&2; exit 2; }
command -v ip >/dev/null 2>&1 || { echo "cleanup-netns: \`ip\` not found (iproute2)" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then echo "cleanup-netns: not root, nothing to do"; exit 0; fi

removed=0 kept=0
while read -r ns _; do
  [ -n "$ns" ] || continue
  case "$ns" in "$prefix"*) ;; *) continue ;; esac
  rest=${ns#"$prefix"}
  owner=${rest%%-*}
  if [ "$all" = 0 ] && [[ "$owner" =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null; then
    kept=$((kept + 1))
    continue
  fi
  for pid in $(ip netns pids "$ns" 2>/dev/null || true); do
    [ "$pid" -gt 1 ] && [ "$pid" != "$$" ] && kill -KILL "$pid" 2>/dev/null || true
  done
  if ip netns del "$ns"; then
    echo "cleanup-netns: removed stale namespace $ns"
    removed=$((removed + 1))
  else
    echo "cleanup-netns: could not remove $ns" >&2
  fi
done < <(ip netns list)
echo "cleanup-netns: $removed removed, $kept kept (owner still running), prefix \"$prefix\""

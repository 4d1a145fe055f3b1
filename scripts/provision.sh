#!/usr/bin/env bash
# Installs the system packages triquant's tests and `triquant up` need, on a Debian machine.
# Shared by developers and CI (.ci/run). Safe to run again: it installs only what is missing.
#
# Today: redis-server (Redis Streams; tests start their own servers on free ports).
# Node: the project runs on the Node 24 binary that `npm ci` installs from the `node`
# package, so the machine only needs some npm to bootstrap it.
# Later issues add Kafka (jars from Maven Central) and Chromium (Debian package) here.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if ((${#missing[@]} == 0)); then
  echo "provision: nothing to install (redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'))"
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "provision: need root to install: ${missing[*]} (run: apt-get install ${missing[*]})" >&2
    exit 1
  fi
else
  SUDO=
fi

echo "provision: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101 keeps the package from starting a system-wide redis on port 6379: triquant
# starts its own servers where it needs them.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "provision: done"

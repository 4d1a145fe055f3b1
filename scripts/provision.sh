#!/usr/bin/env bash
# Installs the system packages triquant's tests and `triquant up` need, on a Debian machine.
# Shared by developers and CI (.ci/run). Safe to run again: it installs only what is missing.
#
# - redis-server: Redis Streams (tests start their own servers on free ports; `triquant up`
#   starts a private one under dataDir).
# - a JDK and Maven: the QuickFIX/J interoperability tests (jars from Maven Central, fetched
#   by scripts/fetch-quickfixj.sh).
# - chromium: the dashboard's browser test drives Debian's Chromium with playwright-core.
# Node: the project runs on the Node 24 binary that `npm ci` installs from the `node`
# package, so the machine only needs some npm to bootstrap it.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if ((${#missing[@]} == 0)); then
  echo "provision: nothing to install (redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(chromium --version 2>/dev/null | head -1))"
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

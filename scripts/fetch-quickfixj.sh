#!/usr/bin/env bash
# Fetches QuickFIX/J (quickfixj-core + quickfixj-messages-fix44, latest 2.3.x, and their runtime
# dependencies) from Maven Central into var/interop/quickfixj/lib and compiles the interop test
# programs (test/interop/quickfixj/*.java: QfjInitiator, QfjAcceptor) into
# var/interop/quickfixj/classes.
#
# Idempotent and quiet: a second run downloads and compiles nothing and prints nothing; errors
# go to stderr with a non-zero exit. Needs `mvn` and a JDK (`javac`, 11+).
#
#   scripts/fetch-quickfixj.sh               # fetch + compile
#   scripts/fetch-quickfixj.sh --classpath   # ... then print the java -cp value on stdout
#
# Environment: QFJ_VERSION (default 2.3.2), MAVEN_REPO_LOCAL (default: Maven's ~/.m2/repository).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/test/interop/quickfixj"
OUT="$ROOT/var/interop/quickfixj"
QFJ_VERSION="${QFJ_VERSION:-2.3.2}"
LIB="$OUT/lib"
CLASSES="$OUT/classes"
STAMP="$LIB/.complete-$QFJ_VERSION"

for tool in mvn javac; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fetch-quickfixj: '$tool' not found on PATH" >&2; exit 3; }
done

mkdir -p "$OUT"

# 1. Jars. The pom is copied next to the output so Maven never writes into the source tree.
if [[ ! -f "$STAMP" || "$SRC/pom.xml" -nt "$STAMP" ]]; then
  rm -rf "$LIB"
  cp "$SRC/pom.xml" "$OUT/pom.xml"
  mvn_args=(-q -B -Dstyle.color=never -f "$OUT/pom.xml" "-Dqfj.version=$QFJ_VERSION"
    dependency:copy-dependencies "-DoutputDirectory=$LIB" -DincludeScope=runtime)
  if [[ -n "${MAVEN_REPO_LOCAL:-}" ]]; then mvn_args+=("-Dmaven.repo.local=$MAVEN_REPO_LOCAL"); fi
  if ! log="$(mvn "${mvn_args[@]}" 2>&1)"; then
    echo "fetch-quickfixj: Maven could not fetch QuickFIX/J $QFJ_VERSION from Maven Central:" >&2
    echo "$log" >&2
    exit 1
  fi
  for jar in "quickfixj-core-$QFJ_VERSION.jar" "quickfixj-messages-fix44-$QFJ_VERSION.jar"; do
    [[ -f "$LIB/$jar" ]] || { echo "fetch-quickfixj: $jar missing after download" >&2; exit 1; }
  done
  touch "$STAMP"
fi

# 2. The test programs, recompiled only when a source or the jars changed.
BUILT="$CLASSES/.built"
stale=0
if [[ ! -f "$BUILT" || "$STAMP" -nt "$BUILT" ]]; then stale=1; fi
for src in "$SRC"/*.java; do
  if [[ "$src" -nt "$BUILT" ]]; then stale=1; fi
done
if [[ "$stale" == 1 ]]; then
  rm -rf "$CLASSES"
  mkdir -p "$CLASSES"
  if ! log="$(javac -nowarn -encoding UTF-8 -d "$CLASSES" -cp "$LIB/*" "$SRC"/*.java 2>&1)"; then
    echo "fetch-quickfixj: javac failed:" >&2
    echo "$log" >&2
    exit 1
  fi
  touch "$BUILT"
fi

if [[ "${1:-}" == "--classpath" ]]; then
  echo "$CLASSES:$LIB/*"
fi

#!/usr/bin/env bash
# Install everything dasedge needs on a fresh Debian machine (idempotent).
#   bash scripts/setup.sh            # runtime + test + training extras
#   DASEDGE_EXTRAS=test bash scripts/setup.sh   # without torch
# System packages (PostgreSQL for the cloud tests, Chromium for the dashboard
# test) come from Debian; Java 17 + Maven fetch the Kafka broker jars from
# Maven Central on first use (cached in ~/.cache/dasedge).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${DASEDGE_EXTRAS:-test,train}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install (as root): apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e ".[${EXTRAS}]"
.venv/bin/python -c "import crc32c, kafka, onnxruntime, h5py, obspy, fastapi" \
  || { echo "setup: core imports failed" >&2; exit 1; }
echo "setup: ok (.venv with extras: ${EXTRAS})" >&2

#!/usr/bin/env bash
# Long reliability runs (not in CI): soak of both pipelines at 2x real time, then the
# kill -9 suites with more kills.  Usage: bash bench/run_soak.sh [MINUTES] [CHANNELS] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
MIN="${1:-30}"; CH="${2:-100}"; KILLS="${3:-20}"
export PYTHONHASHSEED=0 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
echo "== soak: ${MIN} min, ${CH} channels at 250 Hz, 2x real time"
.venv/bin/python bench/soak.py --minutes "$MIN" --speed 2 --channels "$CH" --out bench/results/soak_last.json
echo "== kill -9 suites with ${KILLS} kills per worker type"
RELIABILITY_KILLS="$KILLS" .venv/bin/python -m pytest -p no:cacheprovider -s \
  tests/reliability/test_seismic_kill.py tests/reliability/test_traffic_kill.py

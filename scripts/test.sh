#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
# Starts its own real services: Apache Kafka (KRaft, from Maven Central jars)
# and PostgreSQL (Debian package) via the pytest session fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# -m "not slow": soak/long tests live in bench/ (bench/run_soak.sh)
set +e
.venv/bin/python -m pytest -m "not slow" -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "test.sh: pytest collected no tests" >&2; exit 1; fi
exit "$rc"

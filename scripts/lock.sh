#!/usr/bin/env bash
# Regenerate constraints.txt (the pinned lock used by setup.sh and the Dockerfile)
# from the development venvs: .venv (runtime + test) and .venv-train (torch).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Pinned versions for reproducible installs (pip install -c constraints.txt ...)."
  echo "# Regenerate with scripts/lock.sh after changing dependencies."
  { .venv/bin/pip freeze --exclude-editable; [ -x .venv-train/bin/pip ] && .venv-train/bin/pip freeze --exclude-editable; } \
    | grep -v '^-e ' | grep -v '@ file:' | sort -s -f -u -t= -k1,1
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pins"

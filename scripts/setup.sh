#!/usr/bin/env bash
# Set up idbench in ./.venv (idempotent). Usage: bash scripts/setup.sh [--test]
#   --test  also install the test dependencies (pytest, scikit-image, transformers, timm).
# torch/torchvision are pinned by requirements/constraints.txt (installed from local wheels here).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
# skip the (slow) resolver when nothing changed since the last successful install
stamp=".venv/.idbench-installed${extra}"
want="$(cat pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
.venv/bin/python -m pip install -q -c requirements/constraints.txt -e ".${extra}"
echo "$want" > "$stamp"

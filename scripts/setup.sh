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
want="$(cat pyproject.toml requirements/constraints.txt scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
.venv/bin/python -m pip install -q -c requirements/constraints.txt -e ".${extra}"
if [ -n "$extra" ]; then
  # insightface 2.1 (pure Python) for the ArcFace parity tests. --no-deps: it requires opencv-python,
  # which would install a second copy of cv2 over opencv-python-headless (both own site-packages/cv2;
  # removing either later breaks the other). Its other needs (onnx, onnxruntime, scikit-image,
  # requests, scipy, tqdm) are already installed above.
  .venv/bin/python -m pip install -q --no-deps "insightface==2.1"
fi
echo "$want" > "$stamp"

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
  # The learned baselines' own packages, without their pins (hpsv2 pins pytest 7.2 and protobuf<4, image-reward
  # timm 0.6.13, facenet-pytorch torch<2.3); their other needs are in the [test] extra. clip-anytorch (OpenAI's
  # CLIP, the reference pipeline of the HPSv1 / aesthetic tests) imports pkg_resources, gone from setuptools 81.
  .venv/bin/python -m pip install -q --no-deps "hpsv2==1.2.0" "image-reward==1.5" "dreamsim==0.2.1" \
    "facenet-pytorch==2.6.0" "clip-anytorch==2.6.0"
  .venv/bin/python -m pip install -q -c requirements/constraints.txt "setuptools<81"
  # hpsv2 1.2.0's wheel lacks its tokenizer's vocabulary file: it is CLIP's BPE vocabulary, as open_clip ships it.
  .venv/bin/python - <<'PY'
import importlib.util, pathlib, shutil
dst = pathlib.Path(importlib.util.find_spec("hpsv2").origin).parent / "src" / "open_clip" / "bpe_simple_vocab_16e6.txt.gz"
src = pathlib.Path(importlib.util.find_spec("open_clip").origin).parent / "bpe_simple_vocab_16e6.txt.gz"
if not dst.exists():
    shutil.copyfile(src, dst)
PY
fi
echo "$want" > "$stamp"

"""The VLM judge end to end on a local OpenAI-compatible endpoint, with its cost summary.

The endpoint is the test suite's local server (tests/fake_openai.py): a real HTTP server speaking
the chat-completions API that answers from the images' mean colours. It is a stand-in for a vLLM /
Ollama / LM Studio server, so these numbers show the mechanics (requests, cache, tokens, cost) and
not a judge's quality. Real photos: ../shared/datasets/dreambooth-objects, 8 subjects, 2 references
each; method `heldout` is a third photo of the same subject, method `swapped` is a photo of the next
subject.

    .venv/bin/python benchmarks/judge_local.py
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from fake_openai import FakeOpenAI  # noqa: E402

DATA = HERE.parents[1] / "shared" / "datasets" / "dreambooth-objects"


def build(root: Path) -> None:
    by: dict[str, list[str]] = {}
    for r in csv.DictReader(open(DATA / "manifest.csv")):
        by.setdefault(r["subject"], []).append(r["path"])
    subjects = sorted(by)[:8]
    for k, s in enumerate(subjects):
        photos = sorted(by[s])
        for i in range(2):
            (root / "refs" / s).mkdir(parents=True, exist_ok=True)
            shutil.copy(DATA / photos[i], root / "refs" / s / f"{i}.jpg")
        other = sorted(by[subjects[(k + 1) % len(subjects)]])
        for method, src in (("heldout", photos[2]), ("swapped", other[3])):
            d = root / "gen" / method / s
            d.mkdir(parents=True, exist_ok=True)
            shutil.copy(DATA / src, d / "0.jpg")
            (d / "0.txt").write_text(f"a photo of sks {s} on a wooden table\n")


def main() -> None:
    srv = FakeOpenAI(delay=0.05)
    url = srv.start()
    prices = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root)
        prices = root / "prices.toml"
        prices.write_text('[models."local-vlm"]\ninput = 0.50\noutput = 1.50\n')
        cmd = [sys.executable, "-m", "idbench.cli.main", "run", "--refs", str(root / "refs"), "--gen", str(root / "gen"),
               "-e", f"judge:local-vlm#base_url={url},concurrency=4", "--protocols", "similarity",
               "--judge-samples", "3", "--judge-prices", str(prices), "--judge-budget", "1",
               "--cache-dir", str(root / "cache"), "-o", str(root / "out")]
        env = {**os.environ, "OPENAI_API_KEY": "none"}
        for run in ("cold", "warm"):
            t0 = time.perf_counter()
            r = subprocess.run(cmd + (["--replace"] if run == "warm" else []), capture_output=True, text=True, env=env)
            dt = time.perf_counter() - t0
            if r.returncode:
                sys.exit(r.stderr)
            j = json.loads((root / "out" / "summary.json").read_text())["sections"]["judge"]["judge:local-vlm"]
            print(f"--- {run} run: {dt:.1f} s, {j['run']['requests']} requests sent, {j['run']['cached']} answers "
                  f"from the cache")
            if run == "cold":
                print(r.stdout)
                print("\n".join(line for line in r.stderr.splitlines() if "request(s) to send" in line))
    srv.stop()


if __name__ == "__main__":
    main()

"""Copy detection on the DreamBooth photos: how many edited copies are flagged, how many distinct
photos of the same subject are (wrongly) flagged, and what the check costs next to embedding.

Edits of every photo: 512-px PNG, JPEG q70 of a 94 % centre crop, 256-px re-encode, a 90 % centre crop
and a half-size JPEG q50; and the geometric ones: mirrored, rotated 90 / 180 / 270 degrees, rotated by
its EXIF tag only (pixels unchanged, orientation 6), letterboxed on black to 16:9 and padded by 15 % in
white. Distinct photos: every pair of
two different photos of one subject (all within-subject pairs).

    .venv/bin/python benchmarks/bench_copies.py
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import DREAMBOOTH  # noqa: E402


def edits(im: Image.Image) -> dict[str, Image.Image]:
    w, h = im.size

    def save(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return Image.open(io.BytesIO(b.getvalue())).convert("RGB")

    def crop(c):
        cw, ch = round(w * c), round(h * c)
        return im.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))

    k512, k256 = 512 / max(w, h), 256 / max(w, h)
    def exif_rotated():
        b = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = 6
        im.transpose(Image.Transpose.ROTATE_90).save(b, "JPEG", quality=90, exif=exif)
        from idbench.data.images import load_image

        p = Path(tempfile.mkdtemp()) / "exif.jpg"
        p.write_bytes(b.getvalue())
        return load_image(p)  # idbench's loader applies the tag, as for any input

    def framed(size, colour, offset):
        canvas = Image.new("RGB", size, colour)
        canvas.paste(im, offset)
        return canvas

    lw = max(w, round(h * 16 / 9))
    pad = round(0.15 * max(w, h))
    return {"mirror": im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            "rot90": im.transpose(Image.Transpose.ROTATE_90), "rot180": im.transpose(Image.Transpose.ROTATE_180),
            "rot270": im.transpose(Image.Transpose.ROTATE_270), "exif_rot": exif_rotated(),
            "letterbox": framed((lw, h), (0, 0, 0), ((lw - w) // 2, 0)),
            "pad15": framed((w + 2 * pad, h + 2 * pad), (255, 255, 255), (pad, pad)),
            "png512": save(im.resize((round(w * k512), round(h * k512)), Image.LANCZOS), "PNG"),
            "crop94_q70": save(crop(0.94), "JPEG", quality=70),
            "jpg256": save(im.resize((round(w * k256), round(h * k256)), Image.BILINEAR), "JPEG", quality=85),
            "crop90": save(crop(0.90), "JPEG", quality=90),
            "half_q50": save(im.resize((w // 2, h // 2)), "JPEG", quality=50)}


def main() -> None:
    from idbench.data.content import NEAR_COPY_CORR, Thumbprint, aligned_correlation, audit_content
    from idbench.data.problems import ProblemLog
    from idbench.data.records import ImageRecord
    from idbench.embed import embed_records
    from idbench.encoders import create_encoder

    rows = list(csv.DictReader(open(DREAMBOOTH / "manifest.csv")))
    tmp = Path(tempfile.mkdtemp(prefix="idbench-copies-"))
    refs, gens = [], []
    for i, r in enumerate(rows):
        src = DREAMBOOTH / r["path"]
        refs.append(ImageRecord(f"r{i}", src, r["subject"]))
        for kind, im in edits(Image.open(src).convert("RGB")).items():
            p = tmp / f"{i}_{kind}.png"
            im.save(p)
            gens.append(ImageRecord(f"{kind}/{i}", p, r["subject"], method=kind))
    t0 = time.perf_counter()
    audit = audit_content(refs, gens, [], problems=ProblemLog())
    t_audit = time.perf_counter() - t0
    per = audit.per_method(gens)
    print(f"edited copies flagged (of {len(rows)} photos each):")
    for kind, d in per.items():
        print(f"  {kind:11s} {d['copies'] + d['near_copies']:4d} / {d['images']}  "
              f"({(d['copies'] + d['near_copies']) / d['images']:.1%})")
    tp = embed_records(Thumbprint(), refs, progress=False, problems=ProblemLog())
    by: dict[str, list[str]] = {}
    for r in refs:
        by.setdefault(r.subject, []).append(r.id)
    scores = []
    for ids in by.values():
        for a, b in itertools.combinations(ids, 2):
            scores.append(float(aligned_correlation(tp[a].vectors[None], tp[b].vectors[None], prefilter=-2)[0, 0]))
    scores = np.array(scores)
    print(f"distinct photos of one subject flagged: {(scores >= NEAR_COPY_CORR).sum()} / {len(scores)} pairs "
          f"({(scores >= NEAR_COPY_CORR).mean():.1%}); highest correlation {scores.max():.3f} (threshold {NEAR_COPY_CORR})")
    enc = create_encoder("effnet-lite0")
    t0 = time.perf_counter()
    embed_records(enc, refs + gens, progress=False, problems=ProblemLog())
    t_embed = time.perf_counter() - t0
    print(f"copy check {t_audit:.1f} s for {len(refs) + len(gens)} images (cold: thumbprints computed); effnet-lite0 "
          f"embedding of the same images {t_embed:.1f} s; ratio {t_audit / t_embed:.2f}")


if __name__ == "__main__":
    main()

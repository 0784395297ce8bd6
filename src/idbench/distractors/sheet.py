"""The review sheet: one self-contained HTML page, one row per attempt: view | mask | distractor |
accepted or rejected with the reason. Decisions are changed in ``review.csv`` (column ``accept``),
which ``nearid eval`` honours."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from jinja2 import Environment, select_autoescape
from PIL import Image

_TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>idbench distractors: review sheet</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 6px;font-size:12px;vertical-align:top;text-align:left}img{display:block}
tr.ok td.status{background:#eaf7ea}tr.no td.status{background:#fbeaea}.muted{color:#666}</style></head><body>
<h1>Distractors: review sheet</h1>
<p class="muted">{{ counts.accepted }} of {{ counts.attempts }} attempts accepted ({{ share }}).
Rejected by gate: {% for g, n in counts.rejected.items() %}{{ g }} {{ n }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}.
To change a decision, edit the <code>accept</code> column of review.csv (1 or 0); <code>idbench nearid eval</code> honours it.</p>
<table><tr><th>sample / view</th><th>view</th><th>mask</th><th>distractor</th><th>status</th></tr>
{% for r in rows %}<tr class="{{ 'ok' if r.accepted else 'no' }}"><td>{{ r.sample_id }}<br><span class="muted">{{ r.view_name }}<br>with {{ r.partner }}</span></td>
<td>{% if r.view %}<img alt="view" src="{{ r.view }}">{% endif %}</td><td>{% if r.mask %}<img alt="mask" src="{{ r.mask }}">{% endif %}</td>
<td>{% if r.dist %}<img alt="distractor" src="{{ r.dist }}">{% else %}<span class="muted">none</span>{% endif %}</td>
<td class="status">{{ 'accepted' if r.accepted else 'rejected: ' + r.gate }}<br><span class="muted">{{ r.reason }}</span>{% if r.scale %}<br><span class="muted">scale {{ r.scale }}</span>{% endif %}</td></tr>
{% endfor %}</table></body></html>"""


def _uri(arr: np.ndarray | None, size: int = 160) -> str | None:
    if arr is None:
        return None
    im = Image.fromarray(arr)
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def render_sheet(attempts: Sequence, counts: dict, view_images: dict[str, np.ndarray]) -> str:
    rows = []
    for a in attempts:
        rows.append({"sample_id": a.sample_id, "view_name": Path(a.view.path).name, "partner": a.partner,
                     "view": _uri(view_images.get(a.view.id)), "mask": _uri(a.view_mask),
                     "dist": _uri(a.distractor.image if a.distractor is not None else None), "accepted": a.accepted,
                     "gate": a.gate, "reason": a.reason,
                     "scale": f"{a.distractor.provenance['scale']:.2f}x" if a.distractor is not None else ""})
    share = f"{counts['accepted_share']:.0%}" if counts.get("accepted_share") is not None else "–"
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(rows=rows, counts=counts, share=share)

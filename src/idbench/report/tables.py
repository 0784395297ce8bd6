"""Paper tables: ``tables.md`` and ``tables.tex`` (booktabs), one table per protocol.

Each table has a few columns named from the metric catalogue ("mAP (subject)", "RCA (class)"), one
row per method with its counts and flags, then the reference rows that give the numbers a
meaning: real references and impostors for similarity, the real upper bound and each method's
chance level for retrieval, Acc_real and chance for RCA. Every cell is ``mean [95% CI]``. A cell is
bold only when the Holm-corrected paired sign-flip test over subjects separates its method from
every other (``rank_methods(...).best``, copies never counted); when too few subjects can reach
significance, nothing is bold and a note says why.

In LaTeX each table fits the column (``\\columnwidth``; ``wide=True``: ``table*`` and
``\\textwidth``): it is scaled down only when its natural width is larger.
"""

from __future__ import annotations

from pathlib import Path

from idbench.results import Results
from idbench.views.table import metric_headers, metric_table, shown_metrics


def shown_protocols(res: Results) -> list:
    """``[(protocol, metric groups it shows)]`` for every registered protocol, in study order, then
    one stand-in per metric group no protocol claims (a layout's or a plug-in scorer's own group):
    every view loops over these, so a plug-in protocol is shown with no edit here."""
    from idbench.protocols.registry import Protocol, available_protocols, get_protocol

    out, claimed = [], set()
    for name in available_protocols():
        p = get_protocol(name)
        claims = p.views.claims or (name,)
        claimed |= set(claims)
        out.append((p, claims))
    for group in dict.fromkeys(info.protocol for info in res.metrics.values()):
        if group not in claimed:
            claimed.add(group)
            out.append((Protocol(group, (), None, group), (group,)))
    return out


def protocol_tables(res: Results, protocol, claims) -> list[dict]:
    """A protocol's tables: its own view, else one table of the metrics of the groups it claims."""
    if protocol.views.tables is not None:
        return protocol.views.tables(res)
    metrics = [m for m in shown_metrics(res) if res.metrics[m].protocol in claims]
    return [metric_table(res, metrics, title=protocol.heading, key=protocol.name)] if metrics else []


def table_data(res: Results) -> list[dict]:
    """Tables as ``{"title", "key", "header", "rows", "bold" (set of (row, col)), "rules" (row indices
    a rule goes above), "notes"}``: each protocol's, in study order (:func:`shown_protocols`)."""
    return [t for p, claims in shown_protocols(res) for t in protocol_tables(res, p, claims)]


# ----------------------------------------------------------------------------- Markdown


def one_line(s) -> str:
    """A name as one line of text: line breaks, tabs and other control characters become one space
    (a method or prompt name can never open a new row or paragraph in a table)."""
    import unicodedata

    return " ".join("".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(s)).split())


def _md_escape(s: str) -> str:
    """Markdown cell text: one line; ``|``, ``*``, ``_`` and backticks escaped; HTML markup shown as
    text (Markdown renderers pass raw HTML through)."""
    import html

    text = html.escape(one_line(s), quote=False)
    for ch in ("\\", "|", "*", "_", "`"):
        text = text.replace(ch, "\\" + ch)
    return text


def to_markdown(tables: list[dict]) -> str:
    out = []
    for t in tables:
        out.append(f"### {_md_escape(t['title'])}\n")
        out.append("| " + " | ".join(_md_escape(h) for h in t["header"]) + " |")
        out.append("|" + "---|" * len(t["header"]))
        for i, row in enumerate(t["rows"]):
            cells = [f"**{_md_escape(c)}**" if (i, j) in t["bold"] else _md_escape(c) for j, c in enumerate(row)]
            out.append("| " + " | ".join(cells) + " |")
        out += [""] + [" ".join(_md_escape(n) for n in t["notes"])] + [""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- LaTeX

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "<": r"\textless{}", ">": r"\textgreater{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in one_line(s))


def to_latex(tables: list[dict], *, wide: bool = False) -> str:
    """booktabs tables, each scaled to the column (or, ``wide``, the text width) only when wider."""
    env, width = ("table*", r"\textwidth") if wide else ("table", r"\columnwidth")
    out = [r"% idbench tables; needs \usepackage{booktabs} and \usepackage{graphicx}"]
    for t in tables:
        label = "tab:idbench-" + "".join(ch if ch.isalnum() else "-" for ch in t.get("key", t["title"]).lower())
        out += [f"\\begin{{{env}}}[t]", "\\centering", "\\small", f"\\caption{{{tex_escape(t['title'])}}}",
                f"\\label{{{label}}}",
                f"\\resizebox{{\\ifdim\\width>{width}{width}\\else\\width\\fi}}{{!}}{{%",
                "\\begin{tabular}{l" + "c" * (len(t["header"]) - 1) + "}", "\\toprule",
                " & ".join(tex_escape(h) for h in t["header"]) + " \\\\", "\\midrule"]
        for i, row in enumerate(t["rows"]):
            if i in t.get("rules", []):
                out.append("\\midrule")
            cells = [f"\\textbf{{{tex_escape(c)}}}" if (i, j) in t["bold"] else tex_escape(c) for j, c in enumerate(row)]
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}}"]
        if t["notes"]:
            out.append("\\par\\smallskip\\parbox{" + width + "}{\\footnotesize " + " ".join(tex_escape(n) for n in t["notes"]) + "}")
        out += [f"\\end{{{env}}}", ""]
    return "\n".join(out)


def render_tables(res: Results, fmt: str = "md", *, wide: bool = False) -> str:
    if fmt not in ("md", "tex"):
        raise ValueError(f"format must be md or tex, got {fmt!r}")
    data = table_data(res)
    return to_markdown(data) if fmt == "md" else to_latex(data, wide=wide)


def write_tables(res: Results, out_dir: str | Path) -> list[Path]:
    from idbench.atomic import atomic_write_bytes

    out = Path(out_dir)
    paths = []
    for fmt in ("md", "tex"):
        p = out / f"tables.{fmt}"
        atomic_write_bytes(p, render_tables(res, fmt).encode("utf-8"))
        paths.append(p)
    return paths


__all__ = ["render_tables", "write_tables", "table_data", "to_markdown", "to_latex", "tex_escape", "metric_headers",
           "protocol_tables", "shown_protocols"]

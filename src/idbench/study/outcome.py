"""What a study produced (:class:`StudyResults`): the results, written as a folder by
:mod:`idbench.write`, shown as tables by :mod:`idbench.report`, and short in a notebook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from idbench.results import Results


@dataclass(repr=False)
class StudyResults:
    """What a study produced: ``results`` (the folder's content), with the ways to read it."""

    results: Results

    def write(self, out_dir: str | Path, *, report: bool = True, merge: bool = True, replace: bool = False,
              echo=None) -> Path:
        """Write the results folder (:func:`idbench.write.write_results_folder`: summary.json,
        per_image.csv, problems.csv, the tables, the protocols' own files and, with ``report``,
        report.html), as one unit; with ``merge`` into a folder of the same study."""
        from idbench.write import write_results_folder

        self.results = write_results_folder(self.results, out_dir, report=report, merge=merge, replace=replace,
                                            echo=echo)
        return Path(out_dir)

    def report(self, out_dir: str | Path) -> Path:
        from idbench.report.html import render_report

        return render_report(out_dir)

    def tables(self, fmt: str = "md") -> str:
        from idbench.report.tables import render_tables

        return render_tables(self.results, fmt)

    def to_pandas(self):
        """Per-image rows as a pandas DataFrame (metric columns as floats)."""
        import pandas as pd

        return pd.DataFrame(self.results.rows)

    @property
    def sections(self) -> dict:
        return self.results.sections

    @property
    def problems(self) -> list:
        """Every input problem (:class:`~idbench.data.problems.Problem`: path, kind, reason, action),
        the same items as summary.json's ``problems``."""
        return self.results.problems.items

    @property
    def methods(self) -> dict:
        return self.results.methods

    def _headline(self) -> tuple[list[str], list[str], dict]:
        """The methods, up to four metric columns (the catalogue's order of the study's metrics) and counts."""
        metrics = [m for m in self.results.metrics if not m.startswith("cmc@")][:4]
        counts = self.results.method_counts()
        return sorted(self.results.methods), metrics, counts

    def __repr__(self) -> str:
        """A few lines (never the rows): methods with images, the first metrics' means, problems."""
        methods, metrics, counts = self._headline()
        lines = [f"StudyResults: {len(self.results.rows)} images, {len(methods)} methods, "
                 f"{len(self.results.metrics)} metrics, {len(self.results.problems.items)} problems"]
        for m in methods[:8]:
            figs = []
            for c in metrics:
                e = self.results.methods.get(m, {}).get(c)
                figs.append(f"{c} {e['mean']:.3f}" if e and isinstance(e.get("mean"), (int, float)) else f"{c} -")
            n = counts.get(m, (0, 0))
            lines.append(f"  {m}: {n[1]} images, {n[0]} subjects; " + "; ".join(figs))
        if len(methods) > 8:
            lines.append(f"  ... {len(methods) - 8} more methods")
        lines.append("  (.to_pandas() for every image, .tables() for the tables, .write(folder) for the report)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The method table as HTML for notebooks: mean [95% CI] of the first metrics."""
        import html

        methods, metrics, counts = self._headline()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["method", "images", *metrics])
        body = []
        for m in methods:
            cells = [html.escape(m), str(counts.get(m, (0, 0))[1])]
            for c in metrics:
                e = self.results.methods.get(m, {}).get(c) or {}
                mean, lo, hi = e.get("mean"), e.get("ci_low"), e.get("ci_high")
                cells.append("-" if not isinstance(mean, (int, float)) else f"{mean:.3f}" + (
                    f" [{lo:.3f}, {hi:.3f}]" if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else ""))
            body.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                f"<p>{len(self.results.rows)} images; {len(self.results.problems.items)} problems "
                "(<code>.problems</code>)</p>")

"""`idbench meta RESULTS_DIR`: which metric follows the known identity drift."""

from __future__ import annotations

import csv
from pathlib import Path

import click

from idbench.views.table import format_table


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--gen", "gen_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Generations folder with <method>/method.json truth (default: the truth stored in summary.json).")
def meta(results_dir, gen_dir):
    """Kendall tau-b between each metric and the true drift (per method and per image), and whether
    the metric orders the methods as the truth does. Writes meta.csv."""
    import numpy as np

    from idbench.results import Results
    from idbench.world import method_truth
    from idbench.world.meta import meta_evaluate

    try:
        res = Results.read(results_dir)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e))
    truth = method_truth(gen_dir) if gen_dir else res.truth
    drift = {m: float(t["drift"]) for m, t in truth.items() if "drift" in t}
    if len(drift) < 2:
        raise click.ClickException("need the true drift of at least 2 methods (summary.json 'truth' or --gen with method.json files)")
    means = {k: {m: v[k]["mean"] for m, v in res.methods.items() if k in v} for k in res.metrics}
    per_image = {k: (np.array([r.get(k, np.nan) for r in res.rows], float),
                     np.array([drift.get(r["method"], np.nan) for r in res.rows], float)) for k in res.metrics}
    from idbench.views.format import fmt_num

    rows = meta_evaluate(means, drift, {k: i.higher_is_better for k, i in res.metrics.items()}, per_image)
    click.echo(format_table(["metric", "tau (methods)", "p", "tau (images)", "true order"],
                            [[r.metric, fmt_num(r.tau_methods, signed=True), fmt_num(r.p_methods, 3),
                              fmt_num(r.tau_images, signed=True), "yes" if r.true_order else "no"] for r in rows]))
    with open(results_dir / "meta.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].__dict__))
        w.writeheader()
        w.writerows(r.__dict__ for r in rows)
    click.echo(f"written: {results_dir / 'meta.csv'}")

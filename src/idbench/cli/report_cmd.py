"""`idbench report RESULTS_DIR`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(results_dir):
    """(Re)write RESULTS_DIR/report.html: one self-contained file (images embedded, no network)."""
    from idbench.report.html import render_report

    if not (results_dir / "summary.json").is_file():
        raise click.ClickException(f"{results_dir}: not a results folder (no summary.json)")
    try:
        path = render_report(results_dir)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        # a summary.json that parses but is not what idbench wrote (hand-edited, other version, damaged)
        raise click.ClickException(f"{results_dir / 'summary.json'}: cannot be shown ({type(e).__name__}: {e}); "
                                   "re-run the evaluation to rewrite it")
    click.echo(f"report: {path}")

"""`idbench report RESULTS_DIR`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["html", "md", "tex"]), default="html", show_default=True,
              help="report.html (self-contained), or the paper tables tables.md / tables.tex (booktabs).")
def report(results_dir, fmt):
    """(Re)write RESULTS_DIR/report.html, tables.md or tables.tex from the results folder."""
    from idbench.report.html import render_report

    if not (results_dir / "summary.json").is_file():
        raise click.ClickException(f"{results_dir}: not a results folder (no summary.json)")
    from idbench.folder import FolderError, ResultsFolder

    folder = ResultsFolder(results_dir)
    if folder.writer_alive():
        raise click.ClickException(f"{results_dir}: another idbench is writing into it now; run `idbench report` again "
                                   "when it has finished (its write renders the report itself)")
    try:
        with folder.lock(timeout=5):
            recovered = folder.recover()
    except (FolderError, OSError):
        recovered = None  # a read-only folder: nothing to roll back here; reading says what is wrong
    if recovered:
        click.echo(f"{results_dir}: {recovered}")
    try:
        if fmt != "html":
            from idbench.report.tables import render_tables
            from idbench.results import Results

            res = Results.read(results_dir)
            from idbench.folder import write_derived

            path = write_derived(results_dir, f"tables.{fmt}", render_tables(res, fmt).encode("utf-8"))
            click.echo(f"tables: {path}")
            return
        path = render_report(results_dir)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        # a summary.json that parses but is not what idbench wrote (hand-edited, other version, damaged)
        raise click.ClickException(f"{results_dir / 'summary.json'}: cannot be shown ({type(e).__name__}: {e}); "
                                   "re-run the evaluation to rewrite it")
    click.echo(f"report: {path}")

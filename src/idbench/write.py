"""Writing a study's results folder as one unit: the study's files, the protocols' own files (NearID
samples, RCA confusions), the paper tables, and the report, which is drawn by :mod:`idbench.report`
from the committed folder. :meth:`idbench.study.StudyResults.write` calls this; the study itself
only plans and runs."""

from __future__ import annotations

from pathlib import Path

from idbench.results import Results


def write_results_folder(results: Results, out_dir: str | Path, *, report: bool = True, merge: bool = True,
                         replace: bool = False, echo=None) -> Results:
    """Write summary.json, per_image.csv (+ .parquet), problems.csv, tables.md / tables.tex, the
    protocols' own files (NearID samples, RCA confusions) and, with ``report``, report.html.

    The folder is written as one unit (:mod:`idbench.folder`): under its lock, between a
    ``writing`` and a ``complete`` manifest. With ``merge`` (default) a folder that already holds
    results is added to only if it is the same study (same references, gallery, samples, encoders
    and options where both have them) and consistent; otherwise :class:`~idbench.folder.FolderError`
    says why. ``replace`` writes over whatever is there.

    Returns the results written (``results`` merged with the folder's earlier ones when merging)."""
    from idbench.folder import FolderError, ResultsFolder, fault_point, same_study
    from idbench.report.tables import write_tables
    from idbench.results import OUTPUT_FILES, ResultsError

    out = Path(out_dir)
    for name in OUTPUT_FILES:
        if (out / name).is_dir():
            raise FolderError(f"{out / name} is a folder; the results file of that name cannot be written there")
    folder = ResultsFolder(out)
    with folder.lock(echo=echo):
        r = results
        recovered = folder.recover()  # an interrupted earlier write: back to its last complete state first
        if recovered and echo is not None:
            echo(f"{out}: {recovered}")
        if merge and not replace and (out / "summary.json").exists():
            folder.check()
            try:
                old = Results.read(out, check=False)
            except (ResultsError, OSError) as e:
                raise FolderError(f"cannot add to {out}: {e}. Use --replace to write over it, or another folder") from None
            ident = r.study.identity
            was = old.study.identity if "study" in old.sections else None
            if was is None:
                raise FolderError(f"{out} holds results that do not record which study produced them (written by an "
                                  "older idbench or by hand); use --replace to write over them, or another folder")
            diffs = same_study(was, ident) + old.stale_rows(r)
            if diffs:
                raise FolderError(f"{out} holds another study: " + "; ".join(diffs) + ". Use --replace to write over "
                                  "it, or another folder")
            r = old.merge(r)
            r.summarise(n_resamples=results.bootstrap.get("n_resamples", 2000), seed=results.bootstrap.get("seed", 0))
        folder.begin()
        if replace:
            from idbench.folder import clear_study_files

            gone = clear_study_files(out, OUTPUT_FILES)
            if gone and echo is not None:
                echo(f"--replace: removed the previous study's files from {out} ({', '.join(sorted(gone))})")
        from idbench.report.examples import store_thumbnails

        store_thumbnails(r.sections, out, res=r)
        written = r.write_files(out)
        written += write_tables(r, out)
        fault_point("tables")
        from idbench.protocols.registry import available_protocols, get_protocol

        for name in available_protocols():  # each protocol's own files (NearID's samples, RCA's confusions, ...)
            files = get_protocol(name).views.files
            if files is not None:
                written += files(r, out, report)
        folder.commit(written)
        if report:  # derived from the committed folder (not in the manifest: `idbench report` re-renders it)
            from idbench.report.html import render_report

            render_report(out)
    return r


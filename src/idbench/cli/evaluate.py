"""`idbench evaluate`: similarity-to-reference metrics for generated images."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import (cache_options, command_line, finish_results, make_encoder, open_cache, print_summary,
                                 run_options, stderr_problem_log, user_errors)


@click.command()
@click.option("--refs", "refs_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="References: folder refs/<subject>/*.jpg or a manifest (path,subject[,class...]).")
@click.option("--gen", "gen_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Generations: folder gen/<method>/<subject>/*.png (prompt in a same-stem .txt/.json) "
                   "or a manifest (path,method,subject[,prompt]).")
@click.option("-e", "--encoder", "encoders", multiple=True, default=("effnet-lite0",), show_default=True,
              help="Encoder spec, repeatable: effnet-lite0, dlib-face, arcface:<pack>, hf:<id or dir>, timm:<name>, nearid:<dir>.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-results"),
              show_default=True, help="Results folder (summary.json, per_image.csv, report.html).")
@click.option("--metrics", "metric_groups", default="similarity,text", show_default=True,
              help="Comma-separated groups: similarity (cos / IPS / SIS), text (CLIP-T + prompt gate, CLIP-like "
                   "encoders), distribution (FID/KID; opt-in: needs many images per method, warns below one image "
                   "per feature dimension), rfs (needs a 'relation' column subject|relation|object), "
                   "goa (needs --detector), aps (needs --attributes and a face encoder).")
@click.option("--no-face", "no_face", type=click.Choice(["zero", "skip"]), default="zero", show_default=True,
              help="Face encoders: a generated image with no detected face scores 0 in IPS/SIS/FaceSim (Stellar's "
                   "published rule) or is left out of them (ConsisID's). The face-found rate is shown either way.")
@click.option("--faces", "face_rule", type=click.Choice(["best", "largest"]), default="best", show_default=True,
              help="Faces compared: every detected face, best pair (Stellar's IPS), or the largest face (ConsisID).")
@click.option("--face-pad-retry", type=click.FloatRange(0, 2), default=0.0, show_default=True,
              help="When no face is found, detect again on the image padded by this fraction of its longer side "
                   "(0: off; ConsisID retries small or stylised faces this way).")
@click.option("--detector", default=None, help="GOA detector: OWL-ViT / OWLv2 model id or folder.")
@click.option("--attributes", "attributes_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="APS: CSV with path, subject and one 0/1 column per face attribute (labelled real faces).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html.")
@cache_options
@run_options
@user_errors
def evaluate(refs_path, gen_path, encoders, metric_groups, no_face, face_rule, face_pad_retry, detector, attributes_path, out_dir, report, cache_dir, no_cache,
             batch_size, device, quiet, n_resamples, seed):
    """Score generated images against their subject's references.

    Per method, subject and image: mean cosine to the references for image encoders (named after
    the encoder, e.g. cos[effnet-lite0]); Stellar's IPS and SIS for face encoders, with the face
    detection failure rate. Every mean has a 95% cluster-bootstrap interval over subjects.

    \b
    Example:
      idbench evaluate --refs refs/ --gen gen/ -e effnet-lite0 -e dlib-face -o results/
    """
    from idbench.data.manifest import load_generations, load_references
    from idbench.protocols.similarity import evaluate_similarity
    from idbench.results import Results

    problems = stderr_problem_log(quiet)
    refs = load_references(refs_path, problems)
    gens = load_generations(gen_path, problems, references=refs)
    encs = [make_encoder(s, device) for s in encoders]
    if face_pad_retry > 0:
        from idbench.encoders.face_retry import PaddedRetry

        encs = [PaddedRetry(e, face_pad_retry) if e.kind == "face" else e for e in encs]
    from idbench.protocols.similarity import FacePolicy
    cache = open_cache(cache_dir, no_cache)
    results = Results(command=command_line(), problems=problems)
    groups = {g.strip() for g in metric_groups.split(",") if g.strip()}
    unknown = groups - {"similarity", "text", "distribution", "rfs", "goa", "aps"}
    if unknown:
        raise click.UsageError(f"unknown metric group(s): {', '.join(sorted(unknown))}")
    evaluate_similarity(refs, gens, encs, cache=cache, problems=problems, progress=not quiet,
                        batch_size=batch_size, results=results, face_policy=FacePolicy(no_face, face_rule))
    if "text" not in groups:
        for name in [k for k in results.metrics if k.startswith(("clip_t[", "prompt_ok["))]:
            del results.metrics[name]
    _optional_groups(groups, refs, gens, encs, detector, attributes_path, results, cache, problems, quiet, seed)
    results = finish_results(results, out_dir, report=report, n_resamples=n_resamples, seed=seed)
    print_summary(results)
    click.echo(f"results: {out_dir}/")


def _optional_groups(groups, refs, gens, encs, detector, attributes_path, results, cache, problems, quiet, seed):
    from idbench.protocols import similarity as ev
    from idbench.embed import embed_records

    image_encs = [e for e in encs if e.kind == "image"]
    if "distribution" in groups:
        for e in image_encs[:1]:
            ev.score_distribution(refs, gens, e, results=results, cache=cache, problems=problems, progress=not quiet, seed=seed)
    if "rfs" in groups:
        for e in [e for e in image_encs if e.has_text]:
            ev.score_rfs(e, gens, embed_records(e, gens.records, cache=cache, problems=problems, progress=False), results=results)
    if "goa" in groups:
        if not detector:
            raise click.UsageError("--metrics goa needs --detector MODEL")
        from idbench.metrics.grounding import OwlDetector

        try:
            det = OwlDetector(detector)
        except (OSError, ValueError) as e:
            raise click.ClickException(f"cannot load detector {detector!r}: {e}")
        ev.score_goa(det, gens, results=results, problems=problems)
    if "aps" in groups:
        faces = [e for e in encs if e.kind == "face"]
        if not attributes_path or not faces:
            raise click.UsageError("--metrics aps needs --attributes CSV and a face encoder (-e dlib-face)")
        from idbench.data.manifest import read_rows

        rows = read_rows(attributes_path)
        names = [c for c in rows[0] if c not in ("path", "subject", "id")] if rows else []
        for r in rows:
            p = Path(r["path"])
            r["path"] = str(p if p.is_absolute() else attributes_path.parent / p)
        try:
            ev.score_aps(faces[0], rows, names, refs, gens, results=results, cache=cache, problems=problems, progress=not quiet)
        except ValueError as e:
            raise click.ClickException(f"APS: {e}")

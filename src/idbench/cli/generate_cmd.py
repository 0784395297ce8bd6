"""`idbench generate`: a generator over a benchmark's subjects, prompts and seeds (see idbench.generate)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--refs", "refs_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="References: refs/<subject>/*.jpg or a published layout (DreamBench, DreamBench++, Stellar), whose "
                   "prompts are used.")
@click.option("--generator", "spec", required=True,
              help="python:<module or file.py>:<function>, or diffusers:<model id or folder>.")
@click.option("--method", required=True, help="The method's name: the folder <out>/<method>/.")
@click.option("--prompts", "prompts_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A text file, one prompt per line, with {0} (or the first {}) for the identifier token and {1} (or "
                   "the second {}) for the class [default: the layout's prompts].")
@click.option("--subjects", default=None, help="Comma-separated subjects [default: all].")
@click.option("--prompt-ids", default=None, help="Prompt indices, e.g. 0-24 or 0,3,7 [default: all].")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds.")
@click.option("--param", "params", multiple=True, help="key=value passed to the generator (repeatable).")
@click.option("--n-refs", type=click.IntRange(1), default=None, help="References given per subject [default: all].")
@click.option("--token", default="sks", show_default=True, help="The identifier token filled into the prompts.")
@click.option("--layout", default=None, help="Published layout of --refs [default: auto-detected].")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("gen"),
              show_default=True)
@click.option("--device", default=None)
@click.option("-q", "--quiet", is_flag=True)
def generate(refs_path, spec, method, prompts_path, subjects, prompt_ids, seeds, params, n_refs, token, layout, out_dir,
             device, quiet):
    """Generate <out>/<method>/<subject>/<prompt>_<seed>.png with a JSON sidecar each; resumable.

    \b
    Example (one's own method, DreamBench prompts):
      idbench generate --refs dreambooth/dataset --generator python:my_method.py:generate --method mine \\
          --seeds 0,1,2,3 -o gen/
      idbench run --refs dreambooth/dataset --gen gen/
    """
    from idbench.cli._common import print_problem_counts, say, stderr_problem_log
    from idbench.generate import generate_missing, parse_params

    problems = stderr_problem_log(quiet)
    table = {"generator": spec, "method": method, "seeds": [s for s in seeds.split(",") if s.strip()],
             "prompt_ids": prompt_ids, "subjects": [s.strip() for s in subjects.split(",")] if subjects else None,
             "prompts": prompts_path, "token": token, "n_refs": n_refs}
    try:
        table["params"] = parse_params(params)
        counts = generate_missing(table, refs_path, out_dir, layout=layout, device=device, problems=problems,
                                  progress=not quiet)
    except (ValueError, OSError) as e:
        raise click.ClickException(str(e))
    say(f"{method}: {counts['generated']} generated, {counts['done_before']} already there, {counts['failed']} failed "
        f"of {counts['jobs']} ({counts['seconds']} s) -> {out_dir / method}/")
    print_problem_counts(problems)
    if counts["failed"]:
        raise click.ClickException(f"{counts['failed']} image(s) failed (named above); re-run to retry them")

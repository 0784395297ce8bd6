"""`idbench` entry point: a click group whose subcommands are imported only when used."""

from __future__ import annotations

import importlib
import sys

import click

# subcommand -> "module:attribute". Add a command by adding one line here and one module.
COMMANDS: dict[str, str] = {
    "run": "idbench.cli.run:run",
    "evaluate": "idbench.cli.evaluate:evaluate",
    "cache": "idbench.cli.cache_cmd:cache",
    "encoders": "idbench.cli.encoders_cmd:encoders",
    "metrics": "idbench.cli.metrics_cmd:metrics",
    "presets": "idbench.cli.presets_cmd:presets",
    "generate": "idbench.cli.generate_cmd:generate",
    "rank": "idbench.cli.rank:rank",
    "demo": "idbench.cli.demo:demo",
    "nearid": "idbench.cli.nearid:nearid",
    "rca": "idbench.cli.rca:rca",
    "compare": "idbench.cli.stats_cmds:compare",
    "agree": "idbench.cli.stats_cmds:agree",
    "report": "idbench.cli.report_cmd:report",
    "world": "idbench.cli.world:world",
    "meta": "idbench.cli.meta:meta",
    "gallery": "idbench.cli.gallery_cmd:gallery",
    "distractors": "idbench.cli.distractors:distractors",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="idbench")
def cli() -> None:
    """idbench: does the subject's identity survive personalization?

    Evaluates personalized image generators (DreamBooth, IP-Adapter, InstantID, ...) with
    identity-level protocols: retrieval rank against a gallery of look-alikes, near-identity
    distractors (NearID), relative classification accuracy, Stellar's face metrics, and the usual
    baselines (CLIP-I, DINO, FID/KID), every mean with a confidence interval.

    Start with `idbench demo`; evaluate your own study with `idbench run`.
    """
    confine_tool_caches()


def confine_tool_caches() -> None:
    """Libraries' own caches and settings (matplotlib's font cache and config) go under idbench's
    cache folder, never into the user's home; the user's own settings win when given."""
    import os

    from idbench.cache.store import default_cache_dir

    if "MPLCONFIGDIR" not in os.environ or os.environ.get("IDBENCH_SET_MPLCONFIGDIR") == os.environ["MPLCONFIGDIR"]:
        os.environ["MPLCONFIGDIR"] = os.environ["IDBENCH_SET_MPLCONFIGDIR"] = str(default_cache_dir() / "matplotlib")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Ctrl-C ends with "interrupted; cached embeddings are kept" and exit code 130
    (click's own "Aborted!" would hide that the finished batches are safe)."""
    try:
        rv = cli.main(args=argv, prog_name="idbench", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("\ninterrupted; cached embeddings are kept", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()

"""``-e judge:<model>``: a VLM judge as a scorer (entry point ``judge`` of ``idbench.encoders``).

The spec names the endpoint's model, with options after ``#``::

    judge:gpt-4o                                   # OPENAI_BASE_URL / OPENAI_API_KEY, or OpenAI
    judge:Qwen/Qwen2-VL-7B-Instruct#base_url=http://localhost:8000/v1,concurrency=4
    judge:gpt-4o-2024-05-13#aspects=concept,tpm=30000
    judge:hf:Qwen/Qwen2-VL-2B-Instruct             # a transformers VLM run here (idbench.judge.local)

Options: ``base_url``; ``aspects`` (``concept``, ``prompt`` or ``concept+prompt``, the default);
``concurrency`` (requests in flight, 8); ``tpm`` (estimated tokens a minute); ``timeout`` (seconds a
request, 120); ``attempts`` (tries of a transient failure, 6). The API key is read from
``OPENAI_API_KEY`` only: it is never part of a spec, a cache key or a results folder.

What is asked (DreamBench++'s prompts or idbench's own), how many times, and within what budget
are the similarity protocol's options (``--judge-prompts``, ``--judge-setting``, ``--judge-samples``,
``--judge-budget``, ``--judge-prices``); :func:`idbench.judge.run.score_with_judge` runs it.
"""

from __future__ import annotations

from idbench.judge.protocol import ASPECTS

_KNOWN = ("base_url", "aspects", "concurrency", "tpm", "timeout", "attempts")


class Judge:
    """A VLM judge: one endpoint model, the aspects it scores, and how requests are bounded."""

    kind = "judge"
    dim = 1
    has_text = False

    def __init__(self, model: str, *, base_url: str | None = None, aspects=ASPECTS, concurrency: int = 8,
                 tpm: int | None = None, timeout: float = 120.0, attempts: int = 6, spec: str | None = None,
                 device: str | None = None) -> None:
        if not model:
            raise ValueError("judge: name the endpoint's model, e.g. judge:gpt-4o")
        bad = [a for a in aspects if a not in ASPECTS]
        if bad or not aspects:
            raise ValueError(f"judge: unknown aspect {bad[0] if bad else '(none)'!r}; known: {', '.join(ASPECTS)}")
        self.model, self.base_url, self.aspects = model, base_url, tuple(aspects)
        self.concurrency, self.tpm, self.timeout, self.attempts = concurrency, tpm, timeout, attempts
        self.device, self.local = device, model.startswith("hf:")
        self.name = spec or f"judge:{model}"

    @property
    def cache_id(self) -> str:
        return f"judge:{self.model}"

    def client(self, *, sleep=None):
        from idbench.judge.client import JudgeClient

        kw = {"sleep": sleep} if sleep is not None else {}
        if self.local:  # judge:hf:<model>: the model runs here, one answer at a time
            from idbench.judge.local import LocalVLM

            return JudgeClient(self.model, backend=LocalVLM(self.model[3:], device=self.device), concurrency=1,
                               max_attempts=self.attempts, **kw)
        return JudgeClient(self.model, base_url=self.base_url, concurrency=self.concurrency, tpm=self.tpm,
                           timeout=self.timeout, max_attempts=self.attempts, **kw)

    def column(self, aspect: str) -> str:
        return f"judge_{aspect}[{self.name}]"


def make(arg: str | None = None, *, device=None, **kw) -> Judge:
    """``judge:<model>[#option=value,...]`` (see the module)."""
    from idbench.encoders.scorer import spec_options

    model, opts = spec_options(arg, _KNOWN)
    if model and model.startswith("hf:"):
        if "base_url" in opts or "tpm" in opts:
            raise ValueError("judge:hf:<model> runs the model here: base_url and tpm are for endpoints")
        if not model[3:]:
            raise ValueError("judge:hf: name the model, e.g. judge:hf:Qwen/Qwen2-VL-2B-Instruct or judge:hf:/path/to/model")
    if not model:
        raise ValueError("judge: name the endpoint's model, e.g. -e judge:gpt-4o")

    def number(key, cast, low):
        if key not in opts:
            return None
        try:
            v = cast(opts[key])
        except ValueError:
            raise ValueError(f"judge: {key}={opts[key]!r} is not a number") from None
        if v < low:
            raise ValueError(f"judge: {key} must be at least {low}, got {v}")
        return v

    aspects = tuple(a.strip() for a in opts.get("aspects", "+".join(ASPECTS)).replace(";", "+").split("+") if a.strip())
    return Judge(model, base_url=opts.get("base_url"), aspects=aspects, device=device,
                 concurrency=number("concurrency", int, 1) or 8, tpm=number("tpm", int, 1),
                 timeout=number("timeout", float, 0.1) or 120.0, attempts=number("attempts", int, 1) or 6,
                 spec=f"judge:{model}")

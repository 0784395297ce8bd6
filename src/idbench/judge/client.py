"""Asking an OpenAI-compatible endpoint, at scale, without losing work or money.

:class:`JudgeClient` sends chat-completion requests through the ``openai`` client library (OpenAI,
Azure, and local servers: vLLM, Ollama, LM Studio, TGI):

* **bounded**: at most ``concurrency`` requests in flight, and at most ``tpm`` estimated tokens a
  minute (:class:`TokenWindow`);
* **retried when transient**: 429, 5xx, timeouts and lost connections are sent again with
  exponential backoff, honouring ``Retry-After`` (:func:`retry_after`); an answer without exactly
  one score is asked again (DreamBench++ does the same);
* **named when permanent**: authentication, permission, an unknown model, a refused or invalid
  request are not retried. Each kind is named once and counted. A fatal kind (authentication,
  permission, unknown model) stops the requests still waiting, since every one of them would fail;
* **cached**: every answer is written as it arrives (:class:`AnswerCache`, one file per answer,
  written atomically). It holds the full response text, the parsed score, the tokens, and the
  model and fingerprint the endpoint reported. A re-run makes no request for an answer it has, and
  a killed run resumes where it stopped. Failures are not cached, so a re-run tries them again;
* **costed**: :func:`estimate` gives the number of requests, the tokens and the cost before anything
  is sent (:data:`PRICES`, overridable), and a run above the budget stops before sending.

The API key comes from ``OPENAI_API_KEY`` (or ``api_key``) and is never written anywhere.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idbench.judge.protocol import SCALE_MAX, parse_score

#: USD per million tokens (input, output), from the providers' price pages (December 2026); a model
#: not listed has no cost estimate unless the user gives one (``--judge-prices``)
PRICES = {"gpt-4o": (2.50, 10.00), "gpt-4o-2024-05-13": (5.00, 15.00), "gpt-4o-2024-08-06": (2.50, 10.00),
          "gpt-4o-2024-11-20": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60), "gpt-4.1": (2.00, 8.00),
          "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40)}
#: tokens of one 512 x 512 image at ``detail: high`` (OpenAI's rule: the short side scaled to 768,
#: 4 tiles of 512 at 170 tokens each, plus 85)
IMAGE_TOKENS = 765
TRANSIENT = ("rate_limited", "server_error", "timeout", "connection")
#: the longest answer text kept in the cache (characters); the score is read from the whole answer
MAX_CONTENT = 20000
FATAL = ("authentication", "permission", "model_not_found")


class JudgeError(RuntimeError):
    """A judge run that cannot go on (budget, a fatal endpoint error), with the reason."""


@dataclass
class JudgeRequest:
    """One question: ``key`` (its cache key), ``build()`` giving its messages (images are encoded only
    when the question is sent, never for a cached answer), the estimated input and output tokens,
    and ``meta`` (what the answer belongs to; kept with the answer)."""

    key: str
    build: Callable[[], list[dict]]
    tokens_in: int
    tokens_out: int
    meta: dict = field(default_factory=dict)
    _messages: list[dict] | None = field(default=None, repr=False)

    @property
    def messages(self) -> list[dict]:
        if self._messages is None:
            self._messages = self.build()
        return self._messages


@dataclass
class JudgeStats:
    requests: int = 0  # HTTP requests sent (every attempt)
    answered: int = 0  # questions answered by the endpoint in this run
    cached: int = 0  # questions answered from the cache
    failed: dict[str, int] = field(default_factory=dict)  # kind -> questions left without an answer
    retries: dict[str, int] = field(default_factory=dict)  # kind -> attempts sent again
    tokens_in: int = 0
    tokens_out: int = 0
    max_in_flight: int = 0
    seconds: float = 0.0
    first_error: dict[str, str] = field(default_factory=dict)  # kind -> the first message of that kind

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def request_key(parts: Sequence[Any]) -> str:
    """The cache key of a question: a digest of its parts (model, prompt version, image contents,
    instruction, sample index, ...)."""
    return hashlib.sha256(json.dumps(list(parts), sort_keys=True, default=str).encode()).hexdigest()


def seed_of(key: str, attempt: int = 0) -> int:
    """A request's seed: fixed per question, sample and attempt (DreamBench++ draws a fresh random
    seed each time; a fixed one makes a run repeatable without changing what is asked)."""
    return int(hashlib.sha256(f"{key}:{attempt}".encode()).hexdigest()[:8], 16)


def estimate_tokens(messages: list[dict], answer_tokens: int) -> tuple[int, int]:
    """``(input, output)`` tokens of a request, estimated: 4 characters a text token, 765 an image."""
    n_in = 0
    for m in messages:
        parts = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        for p in parts:
            n_in += IMAGE_TOKENS if p["type"] == "image_url" else math.ceil(len(p["text"]) / 4) + 4
    return n_in, answer_tokens


def price_of(model: str, prices: dict | None = None) -> tuple[float, float] | None:
    """USD per million (input, output) tokens for ``model`` (the longest known prefix), or None."""
    if model.startswith("hf:") and model not in (prices or {}):
        return (0.0, 0.0)  # a model run here: no charge per token
    table = {**PRICES, **(prices or {})}
    best = max((k for k in table if model == k or model.startswith(k + "-")), key=len, default=None)
    return tuple(table[best]) if best else None


def cost(tokens_in: int, tokens_out: int, price: tuple[float, float] | None) -> float | None:
    return None if price is None else (tokens_in * price[0] + tokens_out * price[1]) / 1e6


def read_prices(path: str | Path) -> dict[str, tuple[float, float]]:
    """A price table the user gives: TOML ``[models."name"] input = 2.5, output = 10.0`` (USD per
    million tokens)."""
    import tomllib

    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    out = {}
    for name, v in (data.get("models") or {}).items():
        try:
            out[str(name)] = (float(v["input"]), float(v["output"]))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: models.{name} needs numbers input and output (USD per million tokens)") from None
    return out


class AnswerCache:
    """One JSON file per answer under ``root/judge/``, written atomically as it arrives."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root) / "judge"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        p = self._path(key)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # missing, or damaged: asked again
        return d if isinstance(d, dict) and isinstance(d.get("score"), (int, float)) else None

    def put(self, key: str, answer: dict) -> None:
        from idbench.atomic import atomic_write_bytes

        try:
            atomic_write_bytes(self._path(key), json.dumps(answer, indent=1).encode("utf-8"))
        except OSError:
            pass  # an unwritable cache never fails the run (the answer is still used)


class TokenWindow:
    """At most ``tpm`` tokens in any 60 s: :meth:`take` waits until the request fits."""

    def __init__(self, tpm: int | None, clock=time.monotonic, sleep=time.sleep) -> None:
        self.tpm, self.clock, self.sleep = tpm, clock, sleep
        self.used: deque[tuple[float, int]] = deque()
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        if not self.tpm:
            return
        n = min(n, self.tpm)
        while True:
            with self.lock:
                now = self.clock()
                while self.used and now - self.used[0][0] >= 60.0:
                    self.used.popleft()
                if sum(k for _, k in self.used) + n <= self.tpm:
                    self.used.append((now, n))
                    return
                wait = 60.0 - (now - self.used[0][0])
            self.sleep(max(wait, 0.01))


def retry_after(error) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number, or an HTTP date), if any."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return None if when is None else max(0.0, when.timestamp() - time.time())


def redact(text: str) -> str:
    """``text`` with anything shaped like an API key (``sk-...``, a bearer token, the key in use) cut
    out: endpoint error messages can quote the key, and messages are written to results.

    >>> redact("Incorrect API key provided: sk-proj-abcd****wxyz.")
    'Incorrect API key provided: sk-[redacted].'
    """
    import re

    key = os.environ.get("OPENAI_API_KEY") or ""
    if len(key) >= 8:
        text = text.replace(key, "[redacted]")
    text = re.sub(r"sk-[A-Za-z0-9_\-*]{4,}", "sk-[redacted]", text)
    return re.sub(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}", r"\1[redacted]", text)


def error_kind(error) -> str:
    """The kind of a failed request: transient (``rate_limited``, ``server_error``, ``timeout``,
    ``connection``) or permanent (``authentication``, ``permission``, ``model_not_found``,
    ``bad_request``, ``refused``, ``other``)."""
    try:
        import openai
    except ImportError:  # a local model's failure: no endpoint kinds
        return "other"
    kinds = ((openai.APITimeoutError, "timeout"), (openai.APIConnectionError, "connection"),  # (a timeout first)
             (openai.RateLimitError, "rate_limited"), (openai.AuthenticationError, "authentication"),
             (openai.PermissionDeniedError, "permission"), (openai.NotFoundError, "model_not_found"),
             (openai.ContentFilterFinishReasonError, "refused"))
    for cls, kind in kinds:
        if isinstance(error, cls):
            return kind
    if isinstance(error, (openai.BadRequestError, openai.UnprocessableEntityError)):
        text = str(error).lower()
        return "refused" if "content" in text and ("policy" in text or "filter" in text) else "bad_request"
    if isinstance(error, openai.APIStatusError):
        return "server_error" if error.status_code >= 500 or error.status_code == 408 else "other"
    return "other"


class JudgeClient:
    """Chat completions against one endpoint and model, bounded, retried, cached (see the module).

    ``base_url`` and ``api_key`` default to ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` (a local server
    that needs no key gets the placeholder ``"none"``)."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None, concurrency: int = 8,
                 tpm: int | None = None, timeout: float = 120.0, max_attempts: int = 6, backoff: float = 1.0,
                 max_backoff: float = 60.0, parse_retries: int = 3, temperature: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, backend=None) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.model, self.concurrency, self.temperature = model, concurrency, temperature
        self.max_attempts, self.backoff, self.max_backoff = max_attempts, backoff, max_backoff
        self.parse_retries, self.sleep = parse_retries, sleep
        self.backend = backend  # a local model answering like the client (idbench.judge.local.LocalVLM)
        if backend is not None:
            self.base_url = f"local:{getattr(backend, 'model_id', model)}"
        else:
            import openai

            self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
            self.client = openai.OpenAI(base_url=self.base_url,
                                        api_key=api_key or os.environ.get("OPENAI_API_KEY") or "none",
                                        timeout=timeout, max_retries=0)  # retries are ours: Retry-After, kinds, counts
        self.window = TokenWindow(tpm, sleep=sleep)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stop: str | None = None

    # ---------------------------------------------------------------- one question

    def _send(self, req: JudgeRequest, seed: int, stats: JudgeStats):
        self.window.take(req.tokens_in + req.tokens_out)
        with self._lock:
            self._in_flight += 1
            stats.requests += 1
            stats.max_in_flight = max(stats.max_in_flight, self._in_flight)
        try:
            messages = req.messages
            if self.backend is not None:
                return self.backend.create(model=self.model, messages=messages, temperature=self.temperature, seed=seed,
                                           max_new_tokens=max(32, 2 * req.tokens_out))
            return self.client.chat.completions.create(model=self.model, messages=messages,
                                                       temperature=self.temperature, seed=seed)
        finally:
            with self._lock:
                self._in_flight -= 1

    def ask(self, req: JudgeRequest, stats: JudgeStats) -> tuple[dict | None, str | None, str]:
        """``(answer, failure kind, message)`` of one question: transient errors retried with backoff
        (``Retry-After`` first), an answer without one score asked again, permanent errors returned."""
        transient_tries = parse_tries = 0
        attempt = 0
        while True:
            if self._stop:
                return None, "stopped", self._stop
            try:
                resp = self._send(req, seed_of(req.key, attempt), stats)
            except Exception as e:  # noqa: BLE001 - classified below; nothing is swallowed
                from idbench.data.images import ImageError

                if isinstance(e, (ImageError, OSError)) and not hasattr(e, "response"):
                    return None, "unreadable", str(e)
                kind = error_kind(e)
                if kind in TRANSIENT and transient_tries + 1 < self.max_attempts:
                    wait = retry_after(e)
                    wait = min(self.backoff * 2 ** transient_tries, self.max_backoff) if wait is None else wait
                    transient_tries += 1
                    attempt += 1
                    with self._lock:
                        stats.retries[kind] = stats.retries.get(kind, 0) + 1
                    self.sleep(wait)
                    continue
                if kind in FATAL:
                    self._stop = f"stopped after a {kind} error: {redact(str(e))}"
                return None, kind, redact(str(e))
            msg = resp.choices[0].message if resp.choices else None
            usage = getattr(resp, "usage", None)
            with self._lock:
                stats.tokens_in += int(getattr(usage, "prompt_tokens", 0) or 0)
                stats.tokens_out += int(getattr(usage, "completion_tokens", 0) or 0)
            if msg is not None and getattr(msg, "refusal", None):
                return None, "refused", str(msg.refusal)
            if resp.choices and resp.choices[0].finish_reason == "content_filter":
                return None, "refused", "the endpoint's content filter stopped the answer"
            content = msg.content if msg is not None else None
            score = parse_score(content)
            if score is None or not 0 <= score <= SCALE_MAX:  # none, several, or outside 0-4: asked again
                parse_tries += 1
                attempt += 1
                with self._lock:
                    stats.retries["unparsable"] = stats.retries.get("unparsable", 0) + 1
                if parse_tries >= self.parse_retries:
                    why = "no single score" if score is None else f"a score outside 0-{SCALE_MAX}"
                    return None, "unparsable", f"{why} in the answer: {str(content)[:200]!r}"
                continue
            return {"score": score, "content": str(content)[:MAX_CONTENT], "model": getattr(resp, "model", None) or self.model,
                    "fingerprint": getattr(resp, "system_fingerprint", None),
                    "tokens_in": int(getattr(usage, "prompt_tokens", 0) or 0),
                    "tokens_out": int(getattr(usage, "completion_tokens", 0) or 0),
                    "attempts": attempt + 1, "meta": req.meta}, None, ""

    # ---------------------------------------------------------------- a run

    def run(self, requests: Sequence[JudgeRequest], cache: AnswerCache | None, *, progress: bool = True,
            on_failure: Callable[[JudgeRequest, str, str], None] | None = None,
            known: dict | None = None) -> tuple[dict[str, dict], JudgeStats]:
        """``({key: answer}, stats)`` for ``requests``: cached answers first (``known``: those already
        read from ``cache``), the rest sent with at most ``concurrency`` in flight, each answer cached
        as it arrives."""
        from idbench.progress import progress_bar

        stats, out = JudgeStats(), {}
        todo = []
        for req in dict((r.key, r) for r in requests).values():
            hit = (known.get(req.key) if known is not None else
                   cache.get(req.key) if cache is not None else None)
            if hit is not None:
                out[req.key] = hit
                stats.cached += 1
            else:
                todo.append(req)
        if todo and hasattr(self.backend, "load"):
            self.backend.load()  # a local model that cannot be loaded: one named error, before any question
        t0 = time.monotonic()
        with progress_bar(len(todo), f"judge [{self.model}]", enabled=progress and bool(todo), unit="req") as bar:
            def one(req):
                answer, kind, message = self.ask(req, stats)
                req._messages = None  # the encoded images are not kept once answered
                with self._lock:
                    if answer is not None:
                        out[req.key] = answer
                        stats.answered += 1
                    else:
                        stats.failed[kind] = stats.failed.get(kind, 0) + 1
                        stats.first_error.setdefault(kind, message)
                    bar.update(1)
                    el = max(time.monotonic() - t0, 1e-9)
                    bar.set_postfix(req_s=f"{stats.requests / el:.1f}", errors=sum(stats.failed.values()))
                if answer is not None:
                    if cache is not None:
                        cache.put(req.key, answer)
                elif on_failure is not None:
                    on_failure(req, kind, message)

            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                list(pool.map(one, todo))
        stats.seconds = time.monotonic() - t0
        return out, stats


__all__ = ["AnswerCache", "IMAGE_TOKENS", "JudgeClient", "JudgeError", "JudgeRequest", "JudgeStats", "PRICES",
           "TokenWindow", "cost", "error_kind", "estimate_tokens", "price_of", "read_prices", "request_key",
           "retry_after", "seed_of"]

"""A real local HTTP server that speaks the OpenAI chat-completions API (aiohttp), for the judge's
tests: it checks each request's shape, answers deterministically from the images and the text,
and injects the failures a real endpoint gives (429 with Retry-After, 500, timeouts, malformed
answers, answers with two scores, refusals, authentication and unknown-model errors).

It is not a mock of the client: the ``openai`` library talks to it over a socket.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from aiohttp import web
from PIL import Image


def question_id(body: dict) -> str:
    """A request's question: its model and messages (not its seed, which changes with each attempt)."""
    return hashlib.sha256(json.dumps([body.get("model"), body.get("messages")], sort_keys=True).encode()).hexdigest()


def images_of(body: dict) -> list[Image.Image]:
    out = []
    for m in body["messages"]:
        if isinstance(m["content"], list):
            for part in m["content"]:
                if part["type"] == "image_url":
                    url = part["image_url"]["url"]
                    assert url.startswith("data:image/jpeg;base64,"), url[:40]
                    assert part["image_url"]["detail"] == "high"
                    out.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    return out


def texts_of(body: dict) -> list[str]:
    out = []
    for m in body["messages"]:
        if isinstance(m["content"], str):
            out.append(m["content"])
        else:
            out += [p["text"] for p in m["content"] if p["type"] == "text"]
    return out


def deterministic_score(body: dict) -> int:
    """Two images (concept): 4 minus the mean-colour distance in steps of 32 grey levels, within 0-4.
    One image (prompt): the instruction's length mod 5."""
    ims = images_of(body)
    if len(ims) == 2:
        a, b = (np.asarray(im.convert("RGB"), np.float64).mean(axis=(0, 1)) for im in ims)
        return int(max(0, 4 - round(float(np.abs(a - b).mean()) / 32)))
    return len(texts_of(body)[-1]) % 5


@dataclass
class FakeOpenAI:
    """``faults``: ``f(question_id, attempt, body) -> None | "429" | "500" | "timeout" | "malformed" |
    "two_scores" | "out_of_range" | "huge" | "not_json" | "no_choices" | "refusal" | "401" | "404"``
    (attempt counts from 0 per question)."""

    faults: object = None
    delay: float = 0.01
    retry_after: str = "0"
    timeout_sleep: float = 3.0
    models: tuple = ()  # when given, any other model is unknown (404)
    bodies: list = field(default_factory=list)  # every request received, in order
    answered: list = field(default_factory=list)  # question ids answered with a score (200)
    in_flight: int = 0
    max_in_flight: int = 0
    attempts: dict = field(default_factory=dict)

    def __post_init__(self):
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the app

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        qid = question_id(body)
        with self._lock:
            self.bodies.append(body)
            attempt = self.attempts.get(qid, 0)
            self.attempts[qid] = attempt + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            assert body.get("temperature") == 1 and isinstance(body.get("seed"), int), body.keys()
            if self.models and body.get("model") not in self.models:
                return web.json_response({"error": {"message": f"The model {body.get('model')} does not exist",
                                                    "type": "invalid_request_error", "code": "model_not_found"}},
                                         status=404)
            fault = self.faults(qid, attempt, body) if self.faults else None
            if fault == "429":
                return web.json_response({"error": {"message": "Rate limit reached", "type": "requests"}}, status=429,
                                         headers={"Retry-After": self.retry_after})
            if fault == "500":
                return web.json_response({"error": {"message": "internal error", "type": "server_error"}}, status=500)
            if fault == "401":
                key = request.headers.get("Authorization", "").removeprefix("Bearer ")
                return web.json_response({"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error",
                                                    "code": "invalid_api_key"}}, status=401)
            if fault == "timeout":
                await asyncio.sleep(self.timeout_sleep)
            if fault == "not_json":
                return web.Response(text="<html>proxy error</html>", content_type="application/json")
            if fault == "no_choices":
                return web.json_response({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                          "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0,
                                                                   "total_tokens": 1}})
            content, refusal = f"Score: {deterministic_score(body)}", None
            if fault == "malformed":
                content = "The subject looks fairly similar."
            elif fault == "two_scores":
                content = "Score: 2\nScore: 3"
            elif fault == "refusal":
                content, refusal = None, "I can't help with that."
            elif fault == "out_of_range":
                content = "Score: 7"
            elif fault == "huge":
                content = "Analysis: " + "very " * 200000 + "similar.\nScore: 2"
            if refusal is None and fault not in ("malformed", "two_scores", "out_of_range"):
                with self._lock:
                    self.answered.append(qid)
            return web.json_response({
                "id": f"chatcmpl-{len(self.bodies)}", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"] + "-fake-2026", "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content, "refusal": refusal}}],
                "usage": {"prompt_tokens": 800, "completion_tokens": 5, "total_tokens": 805}})
        finally:
            with self._lock:
                self.in_flight -= 1

    # ------------------------------------------------------------------ serving

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve():
            asyncio.set_event_loop(self._loop)
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_post("/v1/chat/completions", self.chat)
            self._runner = web.AppRunner(app, handler_cancellation=True)  # a request the client gave up on ends
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert started.wait(10), "the fake server did not start"
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        async def down():
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

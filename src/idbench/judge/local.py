"""``judge:hf:<model>``: a transformers vision-language model as the judge, run here, without a server.

The same prompts, messages and parsing as an endpoint judge: the messages are built in the OpenAI
chat format (:func:`idbench.judge.protocol.dreambench_messages`), then turned into the model's own
chat template through its processor (``AutoProcessor.apply_chat_template``). The images are sent as
they would be sent to an endpoint: base64 JPEG, decoded here. The model is loaded with
``AutoModelForImageTextToText``. It is loaded offline when the hub cannot be reached, and never
with ``trust_remote_code``. The answer is sampled with the request's temperature and seed.
:class:`LocalVLM` answers like the ``openai`` client does, so that retries, parsing, caching and
counting are :class:`idbench.judge.client.JudgeClient`'s own.
"""

from __future__ import annotations

import base64
import io
import threading
from types import SimpleNamespace


def hf_messages(messages: list[dict]) -> list[dict]:
    """OpenAI chat messages -> the transformers chat format: a data-URL image becomes
    ``{"type": "image", "image": PIL.Image}``, text parts stay, string contents stay strings.

    >>> hf_messages([{"role": "user", "content": "hello"}])
    [{'role': 'user', 'content': 'hello'}]
    """
    from PIL import Image

    out = []
    for m in messages:
        if isinstance(m["content"], str):
            out.append({"role": m["role"], "content": m["content"]})
            continue
        parts = []
        for p in m["content"]:
            if p["type"] == "image_url":
                data = p["image_url"]["url"].split(",", 1)[1]
                parts.append({"type": "image", "image": Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")})
            else:
                parts.append({"type": "text", "text": p["text"]})
        out.append({"role": m["role"], "content": parts})
    return out


class LocalVLM:
    """A transformers VLM that answers chat completions (one at a time: generation holds the model)."""

    def __init__(self, model_id: str, *, device: str | None = None) -> None:
        self.model_id, self._device = model_id, device
        self.model = None  # loaded by load(): a run whose every answer is cached never loads it
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the processor and the model (once); a model that cannot be found or read is one
        ``ValueError`` naming it and the local-folder spec that replaces it."""
        if self.model is not None:
            return
        import transformers

        from idbench.encoders.registry import hub_kwargs, hub_loading, pick_device

        self.device = pick_device(self._device)
        kw = hub_kwargs(self.model_id)
        with hub_loading(self.model_id, f"judge:hf:/path/to/{self.model_id.split('/')[-1]}"):
            self.processor = transformers.AutoProcessor.from_pretrained(self.model_id, **kw)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(self.model_id, **kw).to(self.device).eval()
        self.fingerprint = f"transformers-{transformers.__version__}"

    def create(self, *, model: str, messages: list[dict], temperature: float, seed: int, max_new_tokens: int = 64):
        import torch

        with self._lock:
            self.load()
            inputs = self.processor.apply_chat_template(hf_messages(messages), add_generation_prompt=True, tokenize=True,
                                                        return_dict=True, return_tensors="pt").to(self.device)
            torch.manual_seed(seed)
            sample = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, **sample)
            n_in = int(inputs["input_ids"].shape[1])
            new = out[0, n_in:]
            text = self.processor.decode(new, skip_special_tokens=True)
        message = SimpleNamespace(content=text, refusal=None)
        return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")],
                               usage=SimpleNamespace(prompt_tokens=n_in, completion_tokens=int(new.shape[0])),
                               model=model, system_fingerprint=self.fingerprint)


__all__ = ["LocalVLM", "hf_messages"]

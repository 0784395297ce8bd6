"""Generative inpainting as a distractor source (as NearID built its sets): a diffusers inpainting
pipeline redraws A's masked region as another instance of the same class, prompted from the
parent label, and the result is pasted back so that every pixel outside the (dilated) mask is the
view's own. diffusers is an optional extra (``pip install idbench[inpaint]``); the GPU is used
when present (float16 there, float32 on CPU)."""

from __future__ import annotations

import cv2
import numpy as np

from idbench.distractors.composite import Distractor


class DiffusersInpainter:
    def __init__(self, model: str, *, device: str | None = None, steps: int = 30, guidance: float = 7.5, seed: int = 0,
                 size: int = 512, dilate: int = 7, prompt: str = "a photo of a {label}"):
        try:
            import torch
            from diffusers import AutoPipelineForInpainting
        except ImportError as e:
            raise ImportError(f"the diffusers source needs diffusers: pip install 'idbench[inpaint]' ({e})") from None
        from idbench.encoders import hub_kwargs, pick_device

        self.device = pick_device(device)
        kw = hub_kwargs(model)
        if self.device.startswith("cuda"):
            kw["torch_dtype"] = torch.float16
        self.pipe = AutoPipelineForInpainting.from_pretrained(model, safety_checker=None, **kw)
        self.pipe = self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.model, self.steps, self.guidance, self.seed = model, steps, guidance, seed
        self.size, self.dilate, self.prompt = size - size % 8, dilate, prompt
        self._torch = torch

    def __call__(self, rgb: np.ndarray, mask: np.ndarray, label: str) -> Distractor:
        from PIL import Image

        h, w = rgb.shape[:2]
        hole = cv2.dilate(mask, np.ones((self.dilate, self.dilate), np.uint8))
        prompt = self.prompt.format(label=label)
        gen = self._torch.Generator(device="cpu").manual_seed(self.seed)
        out = self.pipe(prompt=prompt, image=Image.fromarray(rgb).resize((self.size, self.size)),
                        mask_image=Image.fromarray(hole).resize((self.size, self.size)), num_inference_steps=self.steps,
                        guidance_scale=self.guidance, height=self.size, width=self.size, generator=gen,
                        output_type="np").images[0]
        redrawn = cv2.resize(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA)
        image = np.where(hole[..., None] > 0, redrawn, rgb)  # the view's own pixels outside the hole, bit for bit
        ys, xs = np.nonzero(hole)
        box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else [0, 0, 0, 0]
        return Distractor(image, hole, {"source": f"diffusers:{self.model}", "prompt": prompt, "steps": self.steps,
                                        "guidance": self.guidance, "seed": self.seed, "size": self.size, "scale": 1.0,
                                        "placed_box": box, "a_box": box, "dilate": self.dilate},
                          (hole > 0).astype(np.float32), hole)

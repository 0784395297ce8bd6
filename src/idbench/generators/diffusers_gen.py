"""``diffusers:<model id or folder>``: a text-to-image pipeline loaded by diffusers'
``AutoPipelineForText2Image`` (on the GPU when present), seeded per image with a
``torch.Generator``. Parameters: ``steps`` (num_inference_steps), ``guidance`` (guidance_scale),
``height``, ``width``; ``ip_adapter=<repo>`` (+ ``ip_subfolder``, ``ip_weight``, ``ip_scale``) loads an
image-prompt adapter where the pipeline supports ``load_ip_adapter``, and the first reference is
given as the image prompt.
"""

from __future__ import annotations


def make(arg: str | None = None, *, params: dict | None = None, device: str | None = None, spec: str = ""):
    from idbench.generate import Generator

    if not arg:
        raise ValueError("diffusers generator: expected diffusers:<model id or folder>")
    try:
        import torch
        from diffusers import AutoPipelineForText2Image
    except ImportError as e:
        raise ValueError(f"diffusers generator needs diffusers: pip install 'idbench[generate]' ({e})") from None
    from idbench.encoders import hub_kwargs, pick_device

    params = dict(params or {})
    dev = pick_device(device)
    kw = hub_kwargs(arg)
    try:
        pipe = AutoPipelineForText2Image.from_pretrained(arg, safety_checker=None, **kw).to(dev)
    except (OSError, ValueError) as e:
        raise ValueError(f"diffusers generator: cannot load {arg!r} ({e})") from None
    pipe.set_progress_bar_config(disable=True)
    ip = params.pop("ip_adapter", None)
    ip_scale = float(params.pop("ip_scale", 0.6))
    if ip:
        if not hasattr(pipe, "load_ip_adapter"):
            raise ValueError(f"diffusers generator: {type(pipe).__name__} has no IP-Adapter support")
        pipe.load_ip_adapter(ip, subfolder=params.pop("ip_subfolder", "models"),
                             weight_name=params.pop("ip_weight", "ip-adapter_sd15.bin"), **kw)
        pipe.set_ip_adapter_scale(ip_scale)
    call = {"num_inference_steps": int(params.pop("steps", 30)), "guidance_scale": float(params.pop("guidance", 7.5))}
    for k in ("height", "width"):
        if k in params:
            call[k] = int(params.pop(k))
    if params:
        raise ValueError(f"diffusers generator: unknown parameter(s) {', '.join(sorted(params))}; known: steps, "
                         "guidance, height, width, ip_adapter, ip_subfolder, ip_weight, ip_scale")

    def generate(references, prompt, seed, **_):
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        extra = {"ip_adapter_image": references[0]} if ip and references else {}
        return pipe(prompt, generator=g, **call, **extra).images

    shown = {**call, **({"ip_adapter": ip, "ip_scale": ip_scale} if ip else {})}
    return Generator(spec or f"diffusers:{arg}", generate, shown)  # params recorded; the pipeline call holds them

"""Human Preference Scores, through the libraries their authors publish.

* ``hpsv2[:v2.0|v2.1|<checkpoint>]`` -- HPSv2 (Wu et al., 2023): the ``hpsv2`` package's own
  open_clip ViT-H-14 with the HPSv2 checkpoint (``xswu/HPSv2`` on the hub). Score, as
  ``hpsv2.img_score.score``: ``image_features @ text_features.T`` (both L2-normalised by the model),
  the diagonal -- a cosine, about 0.2-0.3 for usual images.
* ``hpsv1:<hpc.pt>`` -- HPS v1 (Wu et al., 2023, "Better aligning text-to-image models with human
  preference"): OpenAI CLIP ViT-L/14 fine-tuned on human choices; score = cosine of the image and
  prompt embeddings, as Stellar's ``HumanPreferenceClassifier`` computes it. Loaded with open_clip
  from the OpenAI-format state dict; the checkpoint is not on a hub, so its path is required.

Options after ``#``: ``hpsv2:v2.1#arch=ViT-H-14`` (the open_clip architecture the checkpoint fits: a
name hpsv2's open_clip knows, or the path of a model-config JSON).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from idbench.encoders import hub_kwargs, hub_loading, pick_device
from idbench.encoders.scorer import Scorer, prompt_cosines, spec_options, weights_digest
from idbench.weights import WeightsError, check_keys, load_into, load_state_dict

HPSV2_REPO = "xswu/HPSv2"


def _state_dict(path, what: str = "CLIP weights") -> dict:
    """A checkpoint's state dict, loaded safely (:func:`idbench.weights.load_state_dict`; the
    ``state_dict`` entry of a training checkpoint, ``module.`` prefixes removed)."""
    return load_state_dict(path, what=what, key="state_dict")


#: names every OpenAI-format CLIP state dict has (open_clip's builder reads them)
_OPENAI_CLIP_KEYS = ("visual.proj", "text_projection", "positional_embedding", "token_embedding.weight")


def openai_clip(state: dict, path: str = "", what: str = "an OpenAI-format CLIP state dict"):
    """An open_clip CLIP built from an OpenAI-format state dict, in float32 with the weights exactly as
    stored (open_clip's builder rounds them through float16 first: they are loaded again after), and
    CLIP's own evaluation transform (resize of the shorter side, bicubic; centre crop; CLIP mean/std)."""
    import open_clip
    from open_clip.model import build_model_from_openai_state_dict

    check_keys(state, path, what=what, required=_OPENAI_CLIP_KEYS)
    state = {k: v for k, v in state.items() if k not in ("input_resolution", "context_length", "vocab_size")}
    try:
        model = build_model_from_openai_state_dict(dict(state), cast_dtype=None).float()
    except (KeyError, RuntimeError, ValueError, IndexError) as e:
        raise WeightsError(f"{path}: not {what} ({type(e).__name__}: {e})") from None
    load_into(model, state, path, what=what)
    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False,
                                           mean=open_clip.OPENAI_DATASET_MEAN, std=open_clip.OPENAI_DATASET_STD)
    return model.eval(), preprocess


class OpenClipScorer(Scorer):
    """A scorer on an open_clip model, whose inputs are that model's evaluation transform (``transform``)."""

    def preprocess(self, image):
        return self.transform(image).numpy()


class _ClipPromptScorer(OpenClipScorer):
    """An open_clip model scored as cos(image, prompt)."""

    def score_batch(self, items, prompts):
        uniq = sorted(set(prompts))
        x = torch.from_numpy(np.stack(items)).to(self.device)
        with torch.inference_mode(), torch.autocast(self.device.split(":")[0], enabled=self.device.startswith("cuda")):
            img = self.model.encode_image(x).float()
            txt = self.model.encode_text(self.tokenize(uniq).to(self.device)).float()
        return prompt_cosines(img, txt, uniq, prompts).cpu().numpy()


class HPSv2(_ClipPromptScorer):
    metric = "hpsv2"
    preprocess_version = "hpsv2-val-1"

    def __init__(self, version: str = "v2.0", arch: str = "ViT-H-14", device: str | None = None) -> None:
        try:
            from hpsv2.src.open_clip import add_model_config, create_model_and_transforms, get_tokenizer
        except FileNotFoundError as e:  # hpsv2 1.2.0's wheel lacks its tokenizer vocabulary
            raise ImportError(f"hpsv2 is installed without its tokenizer vocabulary ({e.filename}); copy open_clip's "
                              "bpe_simple_vocab_16e6.txt.gz (the same CLIP vocabulary) there") from None
        from hpsv2.utils import hps_version_map

        self.device = pick_device(device)
        if Path(version).is_file():
            path = Path(version)
        elif version in hps_version_map:
            import huggingface_hub

            with hub_loading(HPSV2_REPO, f"hpsv2:/path/to/{hps_version_map[version]}"):
                path = huggingface_hub.hf_hub_download(HPSV2_REPO, hps_version_map[version], **hub_kwargs(HPSV2_REPO))
        else:
            raise ValueError(f"hpsv2: {version!r} is neither a checkpoint file nor one of {', '.join(hps_version_map)}")
        arch_name = arch
        if arch.endswith(".json") and Path(arch).is_file():  # an open_clip model config of one's own
            add_model_config(arch)
            arch_name = Path(arch).stem
        state = _state_dict(path, what=f"an HPSv2 checkpoint for {arch_name}")  # before building: a bad file fails fast
        # hpsv2.img_score.initialize_model's call, without the base weights the checkpoint replaces
        model, _, self.transform = create_model_and_transforms(
            arch_name, None, precision="amp", device=self.device, jit=False, force_quick_gelu=False,
            force_custom_text=False, force_patch_dropout=False, force_image_size=None, pretrained_image=False,
            image_mean=None, image_std=None, light_augmentation=True, aug_cfg={}, output_dict=True,
            with_score_predictor=False, with_region_predictor=False)
        load_into(model, state, path, what=f"an HPSv2 checkpoint for {arch_name}")
        self.model = model.to(self.device).eval()
        self.tokenize = get_tokenizer(arch_name)
        self.name = "hpsv2" + ("" if (version, arch) == ("v2.0", "ViT-H-14") else f":{version}"
                               + ("" if arch == "ViT-H-14" else f"#arch={arch}"))
        self._id = weights_digest(state)


class HPSv1(_ClipPromptScorer):
    metric = "hpsv1"
    preprocess_version = "clip-val-1"

    def __init__(self, checkpoint: str, device: str | None = None) -> None:
        import open_clip

        if not checkpoint or not Path(checkpoint).is_file():
            raise ValueError(f"hpsv1 needs the HPS v1 checkpoint file (hpc.pt from tgxs002/align_sd): "
                             f"hpsv1:/path/to/hpc.pt (got {checkpoint!r})")
        self.device = pick_device(device)
        what = "the HPS v1 checkpoint (hpc.pt: an OpenAI-format CLIP ViT-L/14 state dict)"
        state = _state_dict(checkpoint, what=what)
        model, self.transform = openai_clip(state, checkpoint, what=what)
        self.model = model.to(self.device)
        self.tokenize = open_clip.tokenize
        self.name = f"hpsv1:{checkpoint}"
        self._id = weights_digest(state)


def make_v2(arg: str | None = None, device: str | None = None, **kw) -> HPSv2:
    """hpsv2[:v2.0|v2.1|<checkpoint>][#arch=ViT-H-14]: HPSv2 (prompt-image human preference score)"""
    version, opts = spec_options(arg, ("arch",))
    return HPSv2(version or "v2.0", opts.get("arch", "ViT-H-14"), device=device)


def make_v1(arg: str | None = None, device: str | None = None, **kw) -> HPSv1:
    """hpsv1:<hpc.pt>: HPS v1 (CLIP ViT-L/14 fine-tuned on human choices; prompt-image cosine)"""
    return HPSv1(arg or "", device=device)

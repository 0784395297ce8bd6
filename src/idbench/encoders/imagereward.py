"""``imagereward[:ImageReward-v1.0|<checkpoint>]``: ImageReward (Xu et al., 2023), the ``image-reward``
package's own model (BLIP ViT-L with a BERT cross-attention text encoder and an MLP head), scored as
``ImageReward.score(prompt, image)``: the MLP on the [CLS] text feature, standardised by the package's
mean and std.

The package is installed without its pins (it pins timm 0.6.13) and imported without its training
script: ``import ImageReward`` also imports ``ReFL`` (diffusers training, ``datasets``), and its BLIP
code imports a helper that transformers 5 removed (``find_pruneable_heads_and_indices``, used only
to prune attention heads, never when scoring) and reads a tokenizer attribute it renamed.
:func:`_import_model_class` loads just the model's modules and supplies those two. Options after ``#``: ``med_config=<med_config.json>``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import torch

from idbench.encoders import hub_kwargs, hub_loading, pick_device
from idbench.encoders.scorer import Scorer, spec_options, weights_digest
from idbench.weights import check_keys, load_into, load_state_dict

REPO = "THUDM/ImageReward"


def _find_pruneable_heads_and_indices(heads, n_heads, head_size, already_pruned_heads):
    """transformers 4.x's helper (removed in 5): the heads left to prune and the flat indices kept."""
    mask = torch.ones(n_heads, head_size)
    heads = set(heads) - already_pruned_heads
    for head in heads:
        head = head - sum(1 if h < head else 0 for h in already_pruned_heads)
        mask[head] = 0
    mask = mask.view(-1).contiguous().eq(1)
    index = torch.arange(len(mask))[mask].long()
    return heads, index


def _invert_attention_mask(self, encoder_attention_mask):
    """transformers 4.x's ``ModuleUtilsMixin.invert_attention_mask`` (removed in 5)."""
    m = encoder_attention_mask
    m = m[:, None, :, :] if m.dim() == 3 else m[:, None, None, :]
    m = m.to(dtype=self.dtype)
    return (1.0 - m) * torch.finfo(self.dtype).min


def _get_head_mask(self, head_mask, num_hidden_layers, is_attention_chunked=False):
    """transformers 4.x's ``get_head_mask`` for the case scoring uses (no head mask)."""
    if head_mask is not None:
        raise NotImplementedError("head masks are not supported by idbench's ImageReward loader")
    return [None] * num_hidden_layers


def _init_tokenizer():
    """BLIP's ``init_tokenizer`` (bert-base-uncased with [DEC] and [ENC] added); transformers 5 has no
    ``additional_special_tokens_ids``, so [ENC]'s id is looked up by name."""
    from transformers import BertTokenizer

    with hub_loading("bert-base-uncased", "a local hub cache holding bert-base-uncased (HF_HOME)"):
        tokenizer = BertTokenizer.from_pretrained("bert-base-uncased", **hub_kwargs("bert-base-uncased"))
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    tokenizer.enc_token_id = tokenizer.convert_tokens_to_ids("[ENC]")
    return tokenizer


def _import_model_class():
    """``ImageReward.ImageReward.ImageReward`` without running the package's ``__init__``."""
    if "ImageReward.ImageReward" in sys.modules:
        return sys.modules["ImageReward.ImageReward"].ImageReward
    spec = importlib.util.find_spec("ImageReward")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("imagereward needs the 'image-reward' package (pip install --no-deps image-reward)")
    import transformers.modeling_utils as mu
    import transformers.pytorch_utils as pu

    for name in ("apply_chunking_to_forward", "prune_linear_layer"):
        if not hasattr(mu, name):
            setattr(mu, name, getattr(pu, name))
    if not hasattr(mu, "find_pruneable_heads_and_indices"):
        mu.find_pruneable_heads_and_indices = _find_pruneable_heads_and_indices
    root = Path(list(spec.submodule_search_locations)[0])
    for pkg, path in (("ImageReward", root), ("ImageReward.models", root / "models")):
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = [str(path)]
            sys.modules[pkg] = m
    med = importlib.import_module("ImageReward.models.BLIP.med")
    base = med.BertPreTrainedModel
    if not hasattr(base, "invert_attention_mask"):
        base.invert_attention_mask = _invert_attention_mask
    if not hasattr(base, "get_head_mask"):
        base.get_head_mask = _get_head_mask
    base.all_tied_weights_keys = {}  # transformers 5 sets it in post_init, which BLIP's models never call
    module = importlib.import_module("ImageReward.ImageReward")
    importlib.import_module("ImageReward.models.BLIP.blip_pretrain").init_tokenizer = _init_tokenizer
    return module.ImageReward


class ImageRewardScore(Scorer):
    metric = "imagereward"
    preprocess_version = "blip-224-1"

    def __init__(self, checkpoint: str = "ImageReward-v1.0", med_config: str | None = None,
                 device: str | None = None) -> None:
        model_class = _import_model_class()
        self.device = pick_device(device)
        if Path(checkpoint).is_file():
            path = checkpoint
        elif checkpoint == "ImageReward-v1.0":
            from huggingface_hub import hf_hub_download

            with hub_loading(REPO, "imagereward:/path/to/ImageReward.pt#med_config=/path/to/med_config.json"):
                path = hf_hub_download(REPO, "ImageReward.pt", **hub_kwargs(REPO))
                med_config = med_config or hf_hub_download(REPO, "med_config.json", **hub_kwargs(REPO))
        else:
            raise ValueError(f"imagereward: {checkpoint!r} is neither a checkpoint file nor 'ImageReward-v1.0'")
        if not med_config or not Path(med_config).is_file():
            raise ValueError("imagereward: a checkpoint file needs its BLIP configuration: "
                             "imagereward:<ImageReward.pt>#med_config=<med_config.json>")
        what = "an ImageReward checkpoint (ImageReward.pt)"
        state = load_state_dict(path, what=what)
        check_keys(state, path, what=what, required=("mlp.layers.0.weight",))
        model = model_class(device=self.device, med_config=med_config)
        load_into(model, state, path, what=what, strict=False)  # as ImageReward.load
        self.model = model.to(self.device).eval()
        self.name = "imagereward" + ("" if checkpoint == "ImageReward-v1.0" else f":{checkpoint}")
        self._id = weights_digest(state)

    def preprocess(self, image):
        return self.model.preprocess(image).numpy()

    def score_batch(self, items, prompts):
        """ImageReward.score, batched: the text goes through BERT with cross-attention to each image."""
        m = self.model
        with torch.inference_mode():
            text = m.blip.tokenizer(list(prompts), padding="max_length", truncation=True, max_length=35,
                                    return_tensors="pt").to(self.device)
            image_embeds = m.blip.visual_encoder(torch.from_numpy(np.stack(items)).to(self.device))
            image_atts = torch.ones(image_embeds.size()[:-1], dtype=torch.long, device=self.device)
            out = m.blip.text_encoder(text.input_ids, attention_mask=text.attention_mask,
                                      encoder_hidden_states=image_embeds, encoder_attention_mask=image_atts,
                                      return_dict=True)
            rewards = m.mlp(out.last_hidden_state[:, 0, :].float())
            return ((rewards - m.mean) / m.std).reshape(-1).cpu().numpy()


def make(arg: str | None = None, device: str | None = None, **kw) -> ImageRewardScore:
    """imagereward[:ImageReward-v1.0|<checkpoint>][#med_config=<json>]: ImageReward (prompt-image reward)"""
    checkpoint, opts = spec_options(arg, ("med_config",))
    return ImageRewardScore(checkpoint or "ImageReward-v1.0", opts.get("med_config"), device=device)

import json
from pathlib import Path

import torch


def tiny_sd_parts(folder: Path, *, in_channels: int = 4, sample_size: int = 8, vae_sample_size: int = 16) -> dict:
    """The parts of a tiny, randomly initialised Stable Diffusion pipeline (UNet, VAE, CLIP text encoder
    and tokenizer, DDIM scheduler), built from configs; the tokenizer's files go under ``folder``."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=sample_size,
                                in_channels=in_channels, out_channels=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=4, norm_num_groups=8,
                        sample_size=vae_sample_size)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37,
                                        num_attention_heads=4, num_hidden_layers=2, pad_token_id=1, vocab_size=1000))
    tokdir = folder / "_tok"
    tokdir.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "!": 1, "<|endoftext|>": 2}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (tokdir / "vocab.json").write_text(json.dumps(vocab))
    (tokdir / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(tokdir / "vocab.json"), str(tokdir / "merges.txt"), model_max_length=77)
    return {"unet": unet, "vae": vae, "text_encoder": text, "tokenizer": tok, "scheduler": DDIMScheduler(),
            "safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}


def make_tiny_inpaint_pipeline(folder: Path) -> Path:
    """A tiny, randomly initialised Stable Diffusion inpainting pipeline saved to ``folder``."""
    from diffusers import StableDiffusionInpaintPipeline

    StableDiffusionInpaintPipeline(**tiny_sd_parts(folder, in_channels=9, sample_size=16, vae_sample_size=32)
                                   ).save_pretrained(folder / "pipe")
    return folder / "pipe"

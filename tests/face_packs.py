"""Tiny, randomly initialised insightface-format packs built with onnx.helper, in the exact graph
signatures of SCRFD (9 outputs: scores, box distances, 5 keypoints at strides 8/16/32, 2 anchors)
and ArcFace (1x3x112x112 in, 512-d out). Real packs cannot be downloaded here; these exercise the
same loading, routing, decoding, alignment and embedding code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def scrfd_model(seed: int = 0, *, kps: bool = True, score_bias: float = -1.0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits, outputs = [], [], []
    heads = [("score", 1, "Sigmoid"), ("bbox", 4, "Softplus")] + ([("kps", 10, None)] if kps else [])
    for head, width, act in heads:
        for s in (8, 16, 32):
            w = rng.normal(0, 0.05, (2 * width, 3, s, s))
            b = np.full(2 * width, score_bias) if head == "score" else rng.normal(0, 0.5, 2 * width)
            inits += [_init(f"{head}{s}_w", w), _init(f"{head}{s}_b", b)]
            y = f"{head}{s}_conv"
            nodes.append(helper.make_node("Conv", ["input.1", f"{head}{s}_w", f"{head}{s}_b"], [y], name=f"conv_{head}{s}",
                                          kernel_shape=[s, s], strides=[s, s]))
            if act:
                nodes.append(helper.make_node(act, [y], [y + "_a"], name=f"act_{head}{s}"))
                y += "_a"
            nodes.append(helper.make_node("Transpose", [y], [y + "_t"], perm=[0, 2, 3, 1], name=f"tr_{head}{s}"))
            inits.append(numpy_helper.from_array(np.array([-1, width], np.int64), f"{head}{s}_shape"))
            out = f"{head}_{s}"
            nodes.append(helper.make_node("Reshape", [y + "_t", f"{head}{s}_shape"], [out], name=f"rs_{head}{s}"))
            outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", width]))
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])
    graph = helper.make_graph(nodes, "scrfd_tiny", [x], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def arcface_model(seed: int = 1, *, batch="None", dim: int = 512) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits = [_init("c_w", rng.normal(0, 0.05, (16, 3, 8, 8))), _init("c_b", np.zeros(16)),
             _init("fc_w", rng.normal(0, 0.02, (16 * 14 * 14, dim))), _init("fc_b", np.zeros(dim))]
    nodes = [helper.make_node("Conv", ["data", "c_w", "c_b"], ["c"], name="conv0", kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Relu", ["c"], ["r"], name="relu0"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten0", axis=1),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["fc1"], name="fc1")]
    b = 1 if batch == 1 else "batch"
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, [b, 3, 112, 112])
    y = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [b, dim])
    graph = helper.make_graph(nodes, "arcface_tiny", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_pack(folder: Path, *, det_name="det_10g.onnx", rec_name="w600k_r50.onnx", batch="None", seed=0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(scrfd_model(seed), str(folder / det_name))
    onnx.save(arcface_model(seed + 1, batch=batch), str(folder / rec_name))
    return folder

"""GPTQ int4 (error-compensating rounding, integer zero points) of the model builder's fp32 graph.

The node is ONNX Runtime's own ``make_matmul_weight_only_node`` (MatMulNBits with integer zero points: the kernel's
packed fast path). Two steps are edgeconv's, each for a measured reason:

- the Hessians: ORT's ``gptq_quantize`` runs the whole model once per distinct MatMul input per calibration sample
  (121 x 16 runs of SmolLM2: still at 44 % after 30 min, docs/llm.md); here one session returns every MatMul's input
  at once, so each calibration prompt runs once;
- the rounding itself (``gptq``): ORT 1.32's copy compensates nothing (its docstring says why).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAXQ = 15


def calibration_feeds(model: Any, sequences: list[list[int]], head_size: int) -> list[dict[str, Any]]:
    """One prefill per calibration prompt for the builder's graph: ids, mask and an empty KV cache (its last
    dimension is symbolic in the graph: ``head_size`` from genai_config.json)."""
    kv = [i for i in model.graph.input if i.name.startswith("past_key_values")]
    feeds = []
    for ids in sequences:
        tokens = np.array([ids], dtype=np.int64)
        feed: dict[str, Any] = {"input_ids": tokens, "attention_mask": np.ones_like(tokens)}
        for value in kv:
            dims = value.type.tensor_type.shape.dim
            feed[value.name] = np.zeros((1, dims[1].dim_value, 0, head_size), dtype=np.float32)
        feeds.append(feed)
    return feeds


def hessians(model: Any, inputs: list[str], feeds: list[dict[str, Any]]) -> dict[str, Any]:
    """``2/n X^T X`` of each named tensor over every calibration token (GPTQ's H, as ORT's ``gptq_quantize`` sums it),
    all from one run per prompt."""
    import onnx
    import onnxruntime as ort

    augmented = onnx.ModelProto()
    augmented.CopyFrom(model)
    known = {o.name for o in augmented.graph.output}
    augmented.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                                  for name in inputs if name not in known)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every named tensor
    session = ort.InferenceSession(augmented.SerializeToString(), options, providers=["CPUExecutionProvider"])
    sums: dict[str, Any] = {}
    count = 0
    for feed in feeds:
        outputs = session.run(inputs, feed)
        for name, value in zip(inputs, outputs, strict=True):
            x = value.reshape(-1, value.shape[-1]).astype(np.float64)
            sums[name] = sums.get(name, 0) + x.T @ x
        count += outputs[0].reshape(-1, outputs[0].shape[-1]).shape[0]
    return {name: total * (2 / count) for name, total in sums.items()}


def gptq(weight: Any, h: Any, block: int, symmetric: bool, percdamp: float = 0.01) -> tuple[Any, Any, Any]:
    """GPTQ (Frantar et al. 2022; the reference implementation's ``fasterquant``) of a weight ``[K, N]`` at 4 bits,
    one scale / integer zero point per ``block`` input rows: each row is rounded in turn and its error spread over
    the rows not yet rounded through the inverse Hessian's Cholesky factor. Returns the integer codes
    ``[N * K/block, block]`` (ORT's packing order), scales ``[N * K/block]`` and zero points (None when symmetric:
    MatMulNBits' default 8).

    Written here because ORT 1.32's copy (``neural_compressor.weight_only.gptq``) indexes the factor's column
    ``Hinv[i:, i]`` where the algorithm needs its row ``Hinv[i, i:]``: the column of an upper-triangular matrix is
    zero below the diagonal, so its compensation never happens (checked: the same output as for ``H = I``, i.e. RTN).
    Each block's scale is found on the rows already corrected for the previous blocks (the column block is ``block``).
    """
    w = weight.astype(np.float64).T.copy()  # [N, K]: the reference implementation's orientation
    n, k = w.shape
    h = h.astype(np.float64).copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h[np.diag_indices(k)] += percdamp * np.mean(np.diag(h))
    hinv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper U with U^T U = H^-1
    codes = np.zeros((n, k), dtype=np.uint8)
    scales = np.zeros((n, k // block))
    zeros = np.full((n, k // block), 8.0)
    for start in range(0, k, block):
        stop = start + block
        part, err = w[:, start:stop].copy(), np.zeros((n, block))
        low, high = np.minimum(part.min(axis=1), 0), np.maximum(part.max(axis=1), 0)  # 0 on the grid: integer zp
        if symmetric:
            high = np.maximum(-low, high)
            scale = 2 * high / MAXQ
        else:
            scale = (high - low) / MAXQ
        scale[scale == 0] = 1.0
        zero = np.full(n, 8.0) if symmetric else np.round(-low / scale)
        scales[:, start // block], zeros[:, start // block] = scale, zero
        sub = hinv[start:stop, start:stop]
        for i in range(block):
            col = part[:, i]
            q = np.clip(np.round(col / scale) + zero, 0, MAXQ)
            codes[:, start + i] = q
            e = (col - scale * (q - zero)) / sub[i, i]
            part[:, i:] -= np.outer(e, sub[i, i:])
            err[:, i] = e
        w[:, stop:] -= err @ hinv[start:stop, stop:]
    return (codes.reshape(n * k // block, block), scales.reshape(-1).astype(np.float32),
            None if symmetric else zeros.reshape(-1).astype(np.uint8))


def quantize(model: Any, names: list[str], feeds: list[dict[str, Any]], block: int, symmetric: bool,
             accuracy_level: int | None, percdamp: float = 0.01) -> Any:
    """Replace each named MatMul (weight ``[K, N]``, K a multiple of ``block``) by a GPTQ int4 MatMulNBits,
    calibrated on ``feeds`` (the graph's inputs, one run each: ``calibration_feeds``)."""
    from onnx import helper, numpy_helper
    from onnxruntime.quantization.neural_compressor.weight_only import make_matmul_weight_only_node

    inits = {t.name: t for t in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    chosen = [name for name in names if numpy_helper.to_array(inits[nodes[name].input[1]]).shape[0] % block == 0]
    h = hessians(model, sorted({nodes[name].input[0] for name in chosen}), feeds)
    for name in chosen:
        node = nodes[name]
        weight = numpy_helper.to_array(inits[node.input[1]])
        codes, scale, zero = gptq(weight, h[node.input[0]], block, symmetric, percdamp)
        k, n = weight.shape
        new, new_inits = make_matmul_weight_only_node(node, (k, n), 4, block, k // block, codes, scale, zero,
                                                      accuracy_level=accuracy_level or 0)
        model.graph.initializer.extend(new_inits)
        position = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(position, new)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model

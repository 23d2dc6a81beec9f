"""Weight-only quantization of the model builder's fp32 graph, node by node, with ONNX Runtime's own quantizer.

The builder's int4 (``MatMulNBitsQuantizer`` with RTN, integer zero points) cannot express a weight that lies on a
4-bit grid with a *float* offset, yet that is what a model dequantized from a GGUF Q4_0 / Q4_1 file is made of (each
block of 32 input weights is ``d * q + m``). ``float_zp`` writes ``MatMulNBits`` with float zero points (min / max
per block: scale ``(max - min) / 15``, zero point ``-min / scale``), which reproduces such weights exactly and costs
nothing for the rest; ``hqq`` is ORT's HQQ (the same start, then its proximal optimisation of the zero point).
Nodes named by ``int8_nodes`` (fnmatch patterns), and the ``lm_head`` when asked, are quantized to int8 by ORT's
default (RTN) quantizer; the tied embedding stays float (ORT's quantizer turns a ``Gather`` into int4 only).

Run by ``build.build_genai`` in the builder's subprocess:
``python -m edgeconv.backends.onnxruntime_genai.quantize <folder> <recipe json> [<calibration ids json>]`` rewrites
``<folder>/model.onnx``. ``algo: gptq`` (gptq.py) rounds the int4 weights with GPTQ on the calibration prompts.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sys
from pathlib import Path
from typing import Any

LM_HEAD = "/lm_head/MatMul"
DATA = "model.onnx.data"


def _float_zp_quantizer(config: Any) -> Any:
    """ORT's HQQ quantizer with its optimisation and zero-point rounding off: min / max scale and a float zero point.

    A subclass rather than a copy: packing, graph rewriting and the MatMulNBits layout stay ORT's own code.
    """
    from onnxruntime.quantization.matmul_nbits_quantizer import HQQWeightOnlyQuantizer

    class FloatZeroPoint(HQQWeightOnlyQuantizer):
        def quantize_internal(self, tensor: Any, bits: int = 4, channel_wise: bool = True, group_size: int = 64,
                              optimize: bool = True, round_zero: bool = True, axis: int = 1) -> Any:
            return super().quantize_internal(tensor, bits, channel_wise, group_size, optimize=False,
                                             round_zero=False, axis=axis)

    return FloatZeroPoint(config)


def _split_offsets(model: Any, names: list[str], block: int) -> list[str]:
    """Move each block's minimum out of the weight: ``W = (W - m) + m``, so that RTN of ``W - m`` (min 0 in every
    block: scale ``(max - min) / 15``, integer zero point 0) plus ``m`` reproduces a ``d * q + m`` grid exactly.

    ``x @ m`` becomes ``(x @ S) @ M``: ``S`` [K, K/block] sums each block of ``x``, ``M`` [K/block, N] holds the minima
    (fp32, 1/block of the weight's size). Written here because ONNX Runtime's CPU MatMulNBits runs float zero points
    ~10x slower than integer ones (measured, docs/llm.md); the int4 part stays ORT's own RTN quantizer and kernel.
    Returns the correction MatMuls' names (left float); a weight whose K is not a multiple of ``block`` is left as is.
    """
    import numpy as np
    from onnx import helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    added, sums = [], {}
    for name in names:
        node = nodes[name]
        weight = numpy_helper.to_array(inits[node.input[1]])
        k, n = weight.shape
        if k % block:
            continue
        minima = weight.reshape(k // block, block, n).min(axis=1)
        # a new initializer, never the read one in place: the builder's tied embedding reads the lm_head's weight
        # through a Transpose, and overwriting it broke every embedding (perplexity +35,000 % with lm_head: same)
        shifted = f"{node.input[1]}_offset"
        inits[shifted] = numpy_helper.from_array((weight - np.repeat(minima, block, axis=0)).astype(weight.dtype),
                                                 shifted)
        model.graph.initializer.append(inits[shifted])
        node.input[1] = shifted
        if (node.input[0], k) not in sums:
            summed = f"{name}_offset/BlockSum"
            if f"block_sum_{k}" not in inits:
                ones = np.repeat(np.eye(k // block, dtype=np.float32), block, axis=0)  # [K, K/block]
                inits[f"block_sum_{k}"] = numpy_helper.from_array(ones, f"block_sum_{k}")
                model.graph.initializer.append(inits[f"block_sum_{k}"])
            model.graph.node.append(helper.make_node("MatMul", [node.input[0], f"block_sum_{k}"],
                                                     [summed + "/output_0"], name=summed))
            sums[(node.input[0], k)] = summed + "/output_0"
            added.append(summed)
        model.graph.initializer.append(numpy_helper.from_array(minima.astype(np.float32), f"{name}_offset/minima"))
        out = node.output[0]
        node.output[0] = f"{name}/quantized_output_0"
        model.graph.node.extend([
            helper.make_node("MatMul", [sums[(node.input[0], k)], f"{name}_offset/minima"],
                             [f"{name}_offset/output_0"], name=f"{name}_offset/MatMul"),
            helper.make_node("Add", [node.output[0], f"{name}_offset/output_0"], [out], name=f"{name}_offset/Add")])
        added.append(f"{name}_offset/MatMul")
    _toposort(model)
    _drop_unused(model)
    return added


def _drop_unused(model: Any) -> None:
    """Remove initializers no node reads any more (a weight `_split_offsets` replaced by its shifted copy)."""
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def _toposort(model: Any) -> None:
    """Nodes in an order ONNX accepts (each after its inputs' producers), after the correction nodes were appended."""
    produced = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer} | {""}
    pending, ordered = list(model.graph.node), []
    while pending:
        ready = [n for n in pending if all(i in produced for i in n.input)]
        if not ready:
            raise ValueError("graph has a cycle or an input nothing produces")
        for n in ready:
            produced.update(n.output)
        ordered += ready
        pending = [n for n in pending if n not in ready]
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def weight_matmuls(model: Any) -> list[str]:
    """Names of the MatMul nodes whose second input is a weight (an initializer)."""
    initializers = {t.name for t in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in initializers]


def on_grid(weight: Any, block: int) -> bool:
    """Whether every block of ``block`` input weights lies on 16 evenly spaced levels from its minimum (a GGUF Q4_0 /
    Q4_1 weight dequantized), to float rounding."""
    import numpy as np

    k, n = weight.shape
    if k % block:
        return False
    blocks = weight.reshape(k // block, block, n)
    low, step = blocks.min(axis=1, keepdims=True), (np.ptp(blocks, axis=1, keepdims=True) / 15)
    levels = (blocks - low) / np.where(step > 0, step, 1)
    return bool(np.abs(levels - np.round(levels)).max() < 1e-2)


def off_grid_nodes(model: Any, names: list[str], block: int) -> list[str]:
    """The weights off a 4-bit grid in a model whose other weights are on it (a fine-tune merged into a GGUF
    model): re-gridding them at int4 snaps most of the fine-tune's small changes back to the base weights (measured
    on the sample: accuracy 0.61 against 0.80), so ``off_grid: int8`` keeps them at int8. None when most weights
    are off the grid (a float model: it would all become int8)."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    off = [name for name in names if not on_grid(numpy_helper.to_array(inits[nodes[name].input[1]]), block)]
    return off if len(off) * 2 < len(names) else []


def plan(names: list[str], recipe: dict[str, Any], off_grid: list[str] | None = None) -> dict[str, list[str]]:
    """Which weight MatMuls go to int4 (the recipe's algorithm), which to int8, which stay float."""
    int8_patterns = [*(recipe.get("int8_nodes") or []), *(off_grid or [])]
    groups: dict[str, list[str]] = {"int4": [], "int8": [], "float": []}
    for name in names:
        if name == LM_HEAD and recipe.get("lm_head") in ("int8", "float"):
            groups[recipe["lm_head"]].append(name)
        elif any(fnmatch.fnmatchcase(name, p) for p in int8_patterns):
            groups["int8"].append(name)
        else:
            groups["int4"].append(name)
    return groups


def quantize_model(model: Any, recipe: dict[str, Any], calibration: list[list[int]] | None = None,
                   head_size: int = 0) -> Any:
    """Quantize ``model`` (an fp32 ModelProto from the builder) as ``recipe`` says; returns the new ModelProto.
    ``calibration``: token ids of the prompts ``algo: gptq`` calibrates on (``head_size``: the KV cache's)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        HQQWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    block, algo, level = int(recipe["block_size"]), recipe["algo"], recipe.get("accuracy_level")
    names = weight_matmuls(model)
    off_grid = off_grid_nodes(model, [n for n in names if n != LM_HEAD], block) \
        if recipe.get("off_grid") == "int8" else []
    groups = plan(names, recipe, off_grid)
    if algo == "rtn_offset":
        _split_offsets(model, groups["int4"], block)
    if algo == "gptq":
        if not calibration:
            raise ValueError("algo gptq needs calibration token ids")
        from edgeconv.backends.onnxruntime_genai import gptq

        feeds = gptq.calibration_feeds(model, calibration, head_size)
        model = gptq.quantize(model, groups["int4"], feeds, block, bool(recipe["symmetric"]), level)
        groups["int4"] = []
    for bits, names in ((4, groups["int4"]), (8, groups["int8"])):
        if not names:
            continue
        others = [n for n in weight_matmuls(model) if n not in names]
        if bits == 4 and algo in ("float_zp", "hqq"):
            quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=others,
                                             algo_config=HQQWeightOnlyQuantConfig(block_size=block, bits=4))
            if algo == "float_zp":
                quantizer.node_quantizer = _float_zp_quantizer(quantizer.algo_config)
        else:
            symmetric = bits == 8 or (bool(recipe["symmetric"]) and algo != "rtn_offset")
            config = DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=symmetric,
                                                  accuracy_level=level, bits=bits)
            quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=others, algo_config=config)
        quantizer.process()
        model = quantizer.model.model
    if level is not None:  # HQQ's nodes carry no accuracy_level: give every MatMulNBits the recipe's
        import onnx

        for node in model.graph.node:
            if node.op_type == "MatMulNBits" and not any(a.name == "accuracy_level" for a in node.attribute):
                node.attribute.append(onnx.helper.make_attribute("accuracy_level", int(level)))
    return model


def rewrite(folder: Path, recipe: dict[str, Any], calibration: list[list[int]] | None = None) -> None:
    """Quantize ``folder/model.onnx`` in place (its weights in one external file, as the builder writes them)."""
    import onnx

    config = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))
    head_size = int(config["model"]["decoder"]["head_size"])
    model = quantize_model(onnx.load(str(folder / "model.onnx")), recipe, calibration, head_size)
    (folder / DATA).unlink()
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=DATA, size_threshold=1024)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    ids = json.loads(Path(sys.argv[3]).read_text(encoding="utf-8")) if len(sys.argv) > 3 else None
    rewrite(Path(sys.argv[1]), json.loads(sys.argv[2]), ids)

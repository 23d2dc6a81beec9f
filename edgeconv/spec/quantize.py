"""The ``quantize:`` section of the spec: int8 recipes and the accuracy-aware search."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edgeconv.spec.base import StrictModel

# The int8-static remedies the search knows, cheapest first (compress/remedies.py says what each does).
Remedy = Literal["float-outputs", "percentile", "entropy", "smoothquant", "weighted-ops", "reduce-range",
                 "int16-activations", "symmetric",
                 # OpenVINO/NNCF's (backends/openvino/remedies.py)
                 "recurrent-float", "mixed-preset", "bias-correction", "overflow-fix", "nncf-accuracy-control"]


class StaticQuantSpec(StrictModel):
    """Settings for int8-static (QDQ) artifacts; the quantization stage reads these."""

    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    percentile: float = Field(99.999, gt=90, lt=100)
    per_channel: bool = True
    activation_type: Literal["uint8", "int8"] = "uint8"
    op_types: list[str] | None = Field(
        None, description="ops to quantize; default: MatMul/Gemm/Conv for MatMul-heavy models (transformers), every "
        "op ONNX Runtime quantizes for convolutional networks (compress/architecture.py)")
    exclude_nodes: list[str] = Field(default_factory=list, description="node names kept in float")
    exclude_op_types: list[str] = Field(default_factory=list, description="op types kept in float")
    activation_matmuls: bool = Field(
        False, description="also quantize MatMuls of two activations (attention scores); off: measured -0.7 pt"
    )
    reduce_range: bool | None = Field(
        None, description="7-bit weights; default: 8-bit, and where this machine's x86 CPU has no VNNI (ORT's "
        "uint8 x int8 kernels saturate there: edgeconv.machine.u8s8_saturates) 7-bit when 8-bit misses the budgets")
    quantize_outputs: bool = Field(
        True, description="requantize MatMul/Gemm outputs; false keeps them float (the residual stream of a "
        "transformer: ONNX Runtime then runs MatMulIntegerToFloat)")
    smoothquant: float | None = Field(
        None, gt=0, lt=1, description="SmoothQuant's alpha: migrate activation outliers into the weights first "
        "(compress/smoothquant.py); none: off")
    activation_16bit: list[str] = Field(
        default_factory=list, description="activation tensors quantized to uint16 (needs a runtime with 16-bit "
        "kernels, e.g. QNN; ONNX Runtime's CPU EP runs their ops in float)")


class DynamicQuantSpec(StrictModel):
    """Settings for int8-dynamic artifacts."""

    per_channel: bool = Field(True, description="per-channel int8 weights: measured 0.983 -> 0.995 agreement")
    conv: bool = Field(False, description="also quantize Conv (to ConvInteger): off, it ran 2-15x slower than "
                       "float Conv on CPU; convolutional networks want int8-static")
    exclude_nodes: list[str] = Field(default_factory=list, description="node names kept in float")
    exclude_op_types: list[str] = Field(default_factory=list, description="op types kept in float (e.g. Gather)")


class FallbackSpec(StrictModel):
    """Accuracy-aware int8: remedies in order of cost, then the most sensitive nodes back to float."""

    enabled: bool = True
    max_trials: int = Field(10, ge=1, le=50, description="quantize-and-evaluate rounds at most, remedies included")
    sensitivity_examples: int = Field(32, gt=0, description="calibration examples used to rank nodes")
    remedies: list[Remedy] | None = Field(
        None, description="int8-static remedies tried, in this order, before any node goes back to float; "
        "default: the ones that pay off on the target's runtime (compress/remedies.py); []: none")


class QuantizeSpec(StrictModel):
    dynamic: DynamicQuantSpec = Field(default_factory=DynamicQuantSpec)
    static: StaticQuantSpec = Field(default_factory=StaticQuantSpec)
    fallback: FallbackSpec = Field(default_factory=FallbackSpec)

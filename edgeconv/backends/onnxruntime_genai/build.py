"""Build an ONNX Runtime GenAI artifact (KV cache, GroupQueryAttention, MatMulNBits) with its model builder.

``onnxruntime_genai.models.builder`` does the export and the weight-only quantization (int4 / int8
through ORT's ``MatMulNBitsQuantizer``); edgeconv only chooses its options, runs it in a separate
process (its torch heap and any crash stay there; its log goes to a file), writes into a temporary
folder renamed when complete, and then reads the graph it wrote to report, by node name, which
weights are quantized (bits, block size, symmetric or not) and which stayed float.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgeconv.errors import RuntimeUnavailable, SpecError, StageError

Precision = Literal["fp32", "int8", "int4"]
EMBEDDING = "/model/embed_tokens/Gather"
LM_HEAD = "/lm_head/MatMul"
BUILDER_ALGOS = ("default", "rtn", "k_quant")  # the builder's own; rtn_offset / float_zp / hqq / gptq: edgeconv's pass
OFFSET = "_offset/"  # the float block-minimum correction of an rtn_offset MatMulNBits (quantize.py), not a weight


@dataclass(frozen=True)
class GenaiRecipe:
    """One artifact's builder options. Defaults are the builder's own CPU defaults (RTN, block 32, symmetric,
    accuracy level 4: int8 activations in the MatMulNBits kernel).

    ``algo`` rtn_offset / float_zp / hqq / gptq, or any ``int8_nodes``, take another route: the builder writes fp32 and
    edgeconv's pass (quantize.py, ORT's MatMulNBitsQuantizer node by node) quantizes it; the tied embedding stays
    float there.
    """

    precision: Precision = "int4"
    block_size: int = 32
    symmetric: bool = True
    accuracy_level: int | None = 4  # 1 fp32, 2 fp16, 3 bf16, 4 int8 activations; None: the builder's default
    algo: Literal["default", "rtn", "k_quant", "rtn_offset", "float_zp", "hqq", "gptq"] = "default"
    lm_head: Literal["same", "int8", "float"] = "same"  # the last MatMul (the largest, output-sensitive weight)
    embeddings: Literal["same", "float"] = "same"  # tied embeddings become int4 GatherBlockQuantized unless float
    int8_nodes: tuple[str, ...] = ()  # fnmatch patterns of MatMul node names kept at int8 (the rest int4)
    off_grid: Literal["int4", "int8"] = "int4"  # int8: weights off the 4-bit grid the others lie on (quantize.py)

    @property
    def own_pass(self) -> bool:
        """Whether edgeconv's pass quantizes (the builder then writes fp32)."""
        return self.precision == "int4" and (self.algo not in BUILDER_ALGOS or bool(self.int8_nodes)
                                             or self.off_grid == "int8")

    @property
    def data_aware(self) -> bool:
        """Whether the recipe calibrates on the spec's texts (GPTQ's Hessians)."""
        return self.precision == "int4" and self.algo == "gptq"

    def pass_options(self) -> dict[str, object] | None:
        """What quantize.py gets (recorded with the artifact); None when the builder quantizes."""
        self._check()
        if not self.own_pass:
            return None
        if self.algo == "k_quant":
            raise SpecError("int8_nodes take algo default, rtn, float_zp or hqq, not k_quant",
                            fix="drop int8_nodes or choose another algo")
        if self.embeddings != "float":
            raise SpecError(f"algo {self.algo} / int8_nodes keep the tied embedding float (ONNX Runtime's quantizer "
                            "makes a Gather int4 only)", fix="set embeddings: float in the target's quantize section")
        return {"algo": self.algo, "block_size": self.block_size, "symmetric": self.symmetric,
                "accuracy_level": self.accuracy_level, "lm_head": self.lm_head, "int8_nodes": list(self.int8_nodes),
                "off_grid": self.off_grid}

    def _check(self) -> None:
        if self.precision != "fp32" and self.block_size not in (16, 32, 64, 128, 256):
            raise SpecError(f"int block size {self.block_size} is not one the builder takes",
                            fix="use 16, 32, 64, 128 or 256")
        if self.precision != "int4" and (self.algo not in BUILDER_ALGOS or self.int8_nodes or self.off_grid != "int4"):
            raise SpecError(f"algo {self.algo} / int8_nodes are int4 recipes, not {self.precision}",
                            fix="use them with precision int4")

    def extra_options(self) -> dict[str, str]:
        """The builder's ``--extra_options`` for this recipe (recorded with the artifact)."""
        self._check()
        if self.precision == "fp32" or self.own_pass:
            return {}
        if self.precision == "int4" and not self.symmetric and self.embeddings != "float":
            # measured with onnxruntime-genai 0.18: the tied embedding's GatherBlockQuantized gets uint4 data where
            # ORT expects float ("Type (tensor(uint8)) of output arg (/model/embed_tokens/Reshape/output_0)")
            raise SpecError("asymmetric int4 with a quantized embedding makes a model ONNX Runtime cannot load "
                            "(onnxruntime-genai 0.18's builder)", fix="keep the embeddings float for asymmetric int4")
        options = {"block_size": str(self.block_size), "is_symmetric": str(self.symmetric).lower(),
                   "algo_config": self.algo}
        if self.accuracy_level is not None:
            options["accuracy_level"] = str(self.accuracy_level)
        excluded = [name for name, keep in ((LM_HEAD, self.lm_head == "float"),
                                            (EMBEDDING, self.embeddings == "float")) if keep]
        if excluded:
            options["nodes_to_exclude"] = ",".join(excluded)
        if self.lm_head == "int8" and self.precision == "int4":
            options["matmul_mixed_precision"] = "last_matmul:int8"
        return options


@dataclass
class GenaiArtifact:
    """A built folder and how it was made: the builder's options, its version, time, size, and each weight's fate."""

    folder: Path
    recipe: GenaiRecipe
    options: dict[str, str]
    builder_version: str
    build_s: float
    size_bytes: int
    quantized: dict[str, str] = field(default_factory=dict)  # node name -> "int4 block 32 symmetric"
    kept_float: list[str] = field(default_factory=list)  # weight-carrying nodes left in float
    log: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "folder": str(self.folder), "log": str(self.log) if self.log else None}


def builder_version() -> str:
    try:
        import onnxruntime_genai as og
    except ImportError as exc:
        raise RuntimeUnavailable("ONNX Runtime GenAI artifacts need onnxruntime-genai",
                                 fix="pip install 'edgeconv[llm]' (onnxruntime-genai)") from exc
    return str(og.__version__)


def build_genai(hf_folder: Path, out: Path, recipe: GenaiRecipe, timeout_s: float = 1800,
                calibration: list[list[int]] | None = None) -> GenaiArtifact:
    """Run the model builder on a Hugging Face folder (the merged fp32 reference) into ``out``; ``calibration``:
    the token ids a data-aware recipe (``algo: gptq``) calibrates on."""
    version = builder_version()
    options, own_pass = recipe.extra_options(), recipe.pass_options()
    if recipe.data_aware and not calibration:
        raise SpecError(f"int4 algo {recipe.algo} calibrates on texts and none were given",
                        fix="add a calibration section (path: a JSONL file of texts) to the spec")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    folder, log = work / "model", out.parent / f"{out.name}.build.log"
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_folder), "-o", str(folder),
               "-p", "fp32" if own_pass else recipe.precision, "-e", "cpu", "-c", str(work / "cache")]
    if options:
        command += ["--extra_options", *(f"{k}={v}" for k, v in options.items())]
    steps = [("model builder", command)]
    if own_pass:
        argv = [sys.executable, "-m", "edgeconv.backends.onnxruntime_genai.quantize", str(folder), json.dumps(own_pass)]
        if recipe.data_aware:
            (work / "calibration.json").write_text(json.dumps(calibration), encoding="utf-8")
            argv.append(str(work / "calibration.json"))
        steps.append(("weight quantization", argv))
    start = time.perf_counter()
    try:
        with log.open("w", encoding="utf-8") as sink:
            root = str(Path(__file__).resolve().parents[3])  # the pass imports this edgeconv, installed or not
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
            for step, argv in steps:
                sink.write(" ".join(argv) + "\n")
                sink.flush()
                done = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, env=env, timeout=timeout_s,
                                      check=False)
                if done.returncode != 0 or not (folder / "genai_config.json").is_file():
                    raise StageError(f"onnxruntime-genai {version} {step} failed ({recipe.precision}): "
                                     f"{_last_error(log)}", fix=f"see {log}")
        build_s = time.perf_counter() - start
        if own_pass:
            options = {"edgeconv_pass": json.dumps(own_pass)}
        if out.exists():
            shutil.rmtree(out)
        os.replace(folder, out)
    except subprocess.TimeoutExpired as exc:
        raise StageError(f"onnxruntime-genai model builder ran past {timeout_s:.0f} s", fix=f"see {log}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    quantized, kept_float = describe_weights(out / "model.onnx")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    return GenaiArtifact(folder=out, recipe=recipe, options=options, builder_version=version, build_s=build_s,
                         size_bytes=size, quantized=quantized, kept_float=kept_float, log=log)


def describe_weights(model_file: Path) -> tuple[dict[str, str], list[str]]:
    """Which weight-carrying nodes the builder quantized (and how) and which it left float, by node name.

    Read from the graph itself (weights stay on disk), so the report says what the artifact *is*, not what
    was asked: a layer the quantizer skipped shows up in ``kept_float``.
    """
    import onnx

    model = onnx.load(str(model_file), load_external_data=False)
    initializers = {t.name: t.data_type for t in model.graph.initializer}
    # a float weight read through a Transpose (the fp32 graph's tied embedding is the lm_head weight transposed)
    weights = {*initializers, *(n.output[0] for n in model.graph.node
                                if n.op_type == "Transpose" and n.input[0] in initializers)}
    names = {n.name for n in model.graph.node}
    quantized: dict[str, str] = {}
    kept_float: list[str] = []
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "MatMulNBits":
            zero_point = initializers.get(node.input[3]) if len(node.input) > 3 and node.input[3] else None
            kind = ("symmetric" if zero_point is None else "asymmetric" if zero_point == onnx.TensorProto.UINT8
                    else "asymmetric (float zero points)")
            bits = attrs.get("bits", 4)
            offsets = node.name.removesuffix(f"_Q{bits}") + OFFSET + "MatMul" in names
            quantized[node.name] = (f"int{bits} block {attrs.get('block_size')} {kind}"
                                    f"{' + float block minima' if offsets else ''} "
                                    f"accuracy_level {attrs.get('accuracy_level', 0)}")
        elif node.op_type == "GatherBlockQuantized":
            zero_point = len(node.input) > 3 and bool(node.input[3])
            quantized[node.name] = (f"int{attrs.get('bits', 4)} block {attrs.get('block_size')} "
                                    f"{'asymmetric' if zero_point else 'symmetric'}")
        elif OFFSET in node.name:
            continue
        elif (node.op_type in ("MatMul", "Gemm") and any(i in weights for i in node.input[:2])) or (
            node.op_type == "Gather" and node.input[0] in weights  # an embedding table, not a shape index
        ):
            kept_float.append(node.name)
    return quantized, kept_float


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[-1][:300] if lines else "no output"

"""TensorRT Edge-LLM (NVIDIA's documented LLM route for Jetson Orin / Thor) as a decoder-LM build target.

Three stages, as the vendor's guides order them: ``quantized/<target>-<precision>`` (ModelOpt's checkpoint, made
here, keyed by the reference's content, the recipe, the calibration texts and ModelOpt's version),
``onnx/<target>-<precision>`` (Edge-LLM's exporter), and ``artifacts/<target>-<precision>``: the engine built by
``llm_build`` on the target's board (keyed by the ONNX folder's content, the build settings and the board).
Every package is imported lazily; ``unavailable_reason`` names the first missing piece, which ``edgeconv
targets`` and ``doctor`` print and a build reports as the row's skip reason.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeconv import versions
from edgeconv.backends.backend import BuiltArtifact
from edgeconv.backends.decoder_lm import DecoderLMBackend, LMCalibration
from edgeconv.backends.tensorrt_edgellm import device, export
from edgeconv.backends.tensorrt_edgellm.quantize import HOW_TO_GET, modelopt_version, quantize_checkpoint
from edgeconv.backends.tensorrt_edgellm.recipe import recipe_for
from edgeconv.errors import NothingToDo, RuntimeUnavailable, SpecError
from edgeconv.fsutil import sha256_json, sha256_tree
from edgeconv.spec.targets import EdgeLLMSettings

if TYPE_CHECKING:
    from edgeconv.cache.stages import Stages
    from edgeconv.results import RunnerSpec
    from edgeconv.spec.targets import TargetProfile

ON_DEVICE = ("TensorRT engines are built on the Jetson that runs them: give the target a device: section "
             "(docs/remote.md) and edgellm.builder, the board's llm_build")


def settings_of(profile: TargetProfile) -> EdgeLLMSettings:
    return profile.edgellm or EdgeLLMSettings()


class EdgeLLMBackend(DecoderLMBackend):
    name = "tensorrt_edgellm"
    classic_target = "jetson-orin-nano"

    def unavailable_reason(self, profile: TargetProfile) -> str | None:
        """The first missing piece of the route, in its order: ModelOpt, the vendor's exporter, a board."""
        if modelopt_version() is None:
            return f"NVIDIA ModelOpt is not installed ({HOW_TO_GET})"
        if export.exporter_path() is None:
            return f"{export.EXPORTER} is not installed ({export.HOW_TO_GET})"
        if profile.device is None:
            return ON_DEVICE
        return None

    def needs_calibration(self, profile: TargetProfile, precision: str) -> bool:
        return recipe_for(profile, precision).quantization is not None

    def build_generative(self, stages: Stages, hf_folder: Path, hf_sha256: str, profile: TargetProfile,
                         precision: str, calibration: LMCalibration | None = None) -> BuiltArtifact:
        """Quantize here (ModelOpt tokenizes ``calibration``'s prompt texts itself), export here, build the engine
        on the board; each step a cached stage."""
        recipe = recipe_for(profile, precision)
        if recipe.quantization and (calibration is None or not calibration.texts):
            raise SpecError(f"{precision} on '{profile.name}' is ModelOpt's AWQ, which calibrates on texts, and the "
                            "spec has none", fix="add a calibration section (path: a JSONL file of texts) to the "
                            "spec, or build fp16")
        texts = calibration.texts[: recipe.calibration_samples] if recipe.quantization and calibration else []
        label = f"{profile.name}-{precision}"
        key: dict[str, Any] = {"reference": hf_sha256, "recipe": asdict(recipe), "texts": sha256_json(texts),
                               "modelopt": modelopt_version(), "edgeconv": versions.of("edgeconv")}

        def quantized(folder: Path) -> dict[str, Any]:
            made = quantize_checkpoint(hf_folder, folder / "checkpoint", recipe, texts)
            return {"quantize_s": made.quantize_s, "quant_algo": made.quant_algo, "group_size": made.group_size,
                    "excluded": made.excluded, "texts": made.calibration_texts, "modelopt": made.modelopt_version}

        q_folder, q_meta = stages.run(f"quantized/{label}", key, quantized)
        o_folder, o_meta = stages.run(f"onnx/{label}", {"checkpoint": sha256_tree(q_folder / "checkpoint"),
                                                        "exporter": export.exporter_version()},
                                      lambda folder: {"export_s": export.export_onnx(q_folder / "checkpoint",
                                                                                     folder / "onnx")})
        if profile.device is None:
            raise RuntimeUnavailable(f"target '{profile.name}' has no board to build its engine on", fix=ON_DEVICE)
        settings, board = settings_of(profile), profile.device
        llm = o_folder / "onnx" / export.LLM_SUBDIR
        files = sorted(p for p in llm.iterdir() if p.is_file())

        from edgeconv.remote import probe_device

        facts = probe_device(board)  # an engine is only valid for the board's TensorRT and L4T: both in the key
        e_key = {"onnx": sha256_tree(llm), "settings": settings.model_dump(), "board": board.label,
                 "arch": facts.get("arch"), "l4t": facts.get("l4t"), "tensorrt": facts.get("tensorrt_packages")}

        def engine(folder: Path) -> dict[str, Any]:
            return device.build_on_device(board, settings, files, folder)

        e_folder, e_meta = stages.run(f"artifacts/{label}", e_key, engine)
        quantization = {"method": "NVIDIA ModelOpt + TensorRT Edge-LLM", "precision": recipe.precision,
                        "quant_algo": q_meta["quant_algo"], "group_size": q_meta["group_size"],
                        "kept_float": q_meta["excluded"], "calibration_texts": q_meta["texts"],
                        "llm_build": e_meta["command"], "built_on": e_meta["built_on"]}
        meta = {"file": device.ENGINE_DIR, "build_s": q_meta["quantize_s"] + o_meta["export_s"]}
        return self.built(e_folder, meta, recipe, quantization, {}, "ModelOpt -> Edge-LLM export -> llm_build")

    def runner_spec(self, artifact: BuiltArtifact, profile: TargetProfile) -> RunnerSpec:
        """None: the engine runs only on its board, and verifying it there is not wired into the build yet, so
        the row is skipped with where the engine is and the vendor's command that runs it on the board."""
        run = device.inference_argv(settings_of(profile), device.ENGINE_DIR, "input.json", "output.json")
        raise NothingToDo(f"engine built into {artifact.path}; verifying it on the board is not wired into "
                          f"edgeconv build yet (run it there: {shlex.join(run)})")

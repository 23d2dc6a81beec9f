"""Make onet.onnx: MTCNN's output network (ONet) as the facenet-pytorch wheel ships it, exported to ONNX.

facenet-pytorch (MIT) ships ONet's weights as a torch.save state dict (facenet_pytorch/data/onet.pt), which
edgeconv refuses to unpickle and cannot load without the class; a user exports it, as this script does.
Outputs, renamed from ONet's (box, landmarks, prob) order so the face probability comes first:
``prob`` [N, 2] (softmax: non-face, face), ``box`` [N, 4] (box regression), ``landmarks`` [N, 10]
(five points, x then y, relative to the 48x48 crop).

    pip download --no-deps facenet-pytorch==2.6.0 && unzip facenet_pytorch-2.6.0-py3-none-any.whl -d FOLDER
    python samples/zoo/mtcnn-onet-face/make.py FOLDER
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def load_onet(folder: Path) -> torch.nn.Module:
    """ONet from the unpacked wheel. Its package imports torchvision for the detection pipeline (NMS, resizing),
    which ONet does not use and this project does not install: empty stand-ins let the class import."""
    for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops",
                 "torchvision.ops.boxes"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchvision.transforms"].functional = sys.modules["torchvision.transforms.functional"]
    sys.modules["torchvision.ops.boxes"].batched_nms = None
    sys.path.insert(0, str(folder))
    from facenet_pytorch.models.mtcnn import ONet  # the wheel's class; its __init__ loads data/onet.pt

    return ONet(pretrained=True).eval()


class ProbFirst(torch.nn.Module):
    """ONet with its outputs reordered: face probability, box, landmarks."""

    def __init__(self, onet: torch.nn.Module) -> None:
        super().__init__()
        self.onet = onet

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        box, landmarks, prob = self.onet(x)
        return prob, box, landmarks


def main(folder: Path) -> None:
    model = ProbFirst(load_onet(folder)).eval()
    out = HERE / "onet.onnx"
    tmp = out.with_suffix(".tmp")
    torch.onnx.export(model, (torch.zeros(1, 3, 48, 48),), str(tmp), input_names=["image"],
                      output_names=["prob", "box", "landmarks"], opset_version=17, dynamo=False,
                      dynamic_axes={"image": {0: "batch"}, "prob": {0: "batch"}, "box": {0: "batch"},
                                    "landmarks": {0: "batch"}})
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""Trace Resemblyzer's VoiceEncoder (the 3-layer LSTM speaker encoder whose weights, pretrained.pt, ship in the
resemblyzer wheel) to TorchScript, as a user hands edgeconv a torch model: ``voice-encoder.pt`` beside this file.

    pip install --no-deps resemblyzer && python samples/zoo/resemblyzer-voice-encoder/make_model.py

Importing ``resemblyzer`` pulls librosa and webrtcvad (preprocessing only), so the module is built from its
own voice_encoder.py with those two stubbed when absent: the network and the weights are the package's, untouched.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
FRAMES, CHANNELS = 160, 40  # one partial utterance: 1.6 s of 40-channel mel frames (resemblyzer.hparams)


def trace(dst: Path) -> Path:
    """Write the traced encoder to ``dst`` (temp path, then rename) and return it."""
    import torch

    stubs = [n for n in ("librosa", "webrtcvad") if importlib.util.find_spec(n) is None]
    for name in stubs:  # imported at the top of resemblyzer.audio; not used by the network
        sys.modules[name] = types.ModuleType(name)
    try:
        from resemblyzer.voice_encoder import VoiceEncoder
    finally:
        for name in stubs:
            del sys.modules[name]

    encoder = VoiceEncoder("cpu", verbose=False).eval()
    with torch.no_grad():
        traced = torch.jit.trace(encoder, torch.rand(2, FRAMES, CHANNELS))
    partial = dst.with_name(dst.name + ".partial")
    traced.save(str(partial))
    partial.replace(dst)
    return dst


def ensure() -> Path:
    """``voice-encoder.pt`` beside this file, traced on first use."""
    model = HERE / "voice-encoder.pt"
    return model if model.is_file() else trace(model)


if __name__ == "__main__":
    print(trace(HERE / "voice-encoder.pt"))

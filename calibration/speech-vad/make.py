"""Make the voice-activity sets: synthetic speech (espeak-ng reading tweets) cut into the 512-sample
16 kHz windows Silero VAD takes, each with the recurrent state the fp32 model carries into it.

``{split}-audio.npz`` holds the same windows without the state, for a VAD that keeps it inside.
A VAD runs as a stream: window t is fed with the state the model returned for window t-1. Feeding
every window a zero state would test inputs the model never sees in use, so the states are recorded
by running the reference (silero-vad's own ONNX file, as the PyPI package ships it) over each
utterance. No labels: the sets measure how far an artifact strays from the fp32 model.

    apt-get install espeak-ng && pip install silero-vad && python calibration/speech-vad/make.py
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TWEETS = HERE.parent / "tweets"
RATE, WINDOW = 16000, 512
SPLITS = {"calib": ("calib.jsonl", 8), "eval": ("eval.jsonl", 8)}
WINDOWS_PER_UTTERANCE = 24  # 0.77 s of each utterance, starting in the silence before the speech


def model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    assert spec is not None and spec.submodule_search_locations, "pip install silero-vad"
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad_16k_op15.onnx"


def speak(text: str, voice: str, speed: int) -> np.ndarray:
    """espeak-ng's 22.05 kHz speech resampled to 16 kHz, with 0.2 s of silence before it."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
        with wave.open(str(wav)) as f:
            rate, audio = f.getframerate(), np.frombuffer(f.readframes(f.getnframes()), np.int16)
    audio = audio.astype(np.float32) / 32768
    resampled = np.interp(np.arange(0, len(audio), rate / RATE), np.arange(len(audio)), audio)
    return np.concatenate([np.zeros(RATE // 5, np.float32), resampled.astype(np.float32)])


def windows_with_states(audio: np.ndarray, session: object, rng: np.random.Generator) -> list[tuple]:
    audio = audio + rng.normal(0, 0.003, size=audio.shape).astype(np.float32)  # a quiet room's noise floor
    state = np.zeros((2, 1, 128), np.float32)
    rows = []
    for t in range(WINDOWS_PER_UTTERANCE):
        chunk = audio[t * WINDOW:(t + 1) * WINDOW]
        if len(chunk) < WINDOW:
            break
        rows.append((chunk[None], state))
        _, state = session.run(None, {"input": chunk[None], "state": state, "sr": np.array(RATE, np.int64)})
    return rows


def main() -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path()), providers=["CPUExecutionProvider"])
    for split, (source, utterances) in SPLITS.items():
        rng = np.random.default_rng(len(split))
        texts = [json.loads(line)["text"] for line in (TWEETS / source).read_text(encoding="utf-8").splitlines()]
        rows = []
        for i, text in enumerate(texts[:utterances]):
            voice = ("en-us", "en-gb", "en-us+f3", "en-gb+m3")[i % 4]
            rows += windows_with_states(speak(text, voice, 150 + 10 * (i % 3)), session, rng)
        audio, rate = np.concatenate([r[0] for r in rows]), np.full(len(rows), RATE, np.int64)
        np.savez_compressed(HERE / f"{split}.npz", input=audio, state=np.stack([r[1] for r in rows]), sr=rate)
        # The same windows for a VAD that keeps its state inside the module (silero_vad.jit): no state input.
        np.savez_compressed(HERE / f"{split}-audio.npz", input=audio, sr=rate)


if __name__ == "__main__":
    main()

"""Make the pitch-tracking sets: synthetic polyphonic music cut into the 2-second windows Basic Pitch takes.

Basic Pitch (Spotify, the basic-pitch wheel's saved_models/icassp_2022/nmp.onnx) reads 43,844 samples of
22.05 kHz mono audio and writes three posteriorgrams: pitch contour, note and onset. No audio ships in a
package it can read, so the notes are synthesised here: plucked/struck tones (harmonics 1..8 with 1/k
amplitudes, each decaying faster the higher it is, a 5 ms attack), one to three at a time, MIDI notes
40-84 (the range the model was trained on is 21-108), random onsets and lengths, a quiet noise floor.
No labels: the sets measure how far an artifact strays from the fp32 model.

    python calibration/music-pitch/make.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE, SAMPLES = 22050, 43844  # basic_pitch.constants: AUDIO_SAMPLE_RATE, AUDIO_N_SAMPLES
INPUT = "serving_default_input_2:0"
SPLITS = {"calib": 12, "eval": 8}


def tone(midi: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One struck note: harmonics of the note's frequency, each decaying exponentially."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    out = np.zeros_like(t)
    for k in range(1, 9):
        if k * f0 > RATE / 2:
            break
        out += np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k * np.exp(-t * (1.5 + 1.2 * k))
    attack = np.minimum(1.0, t / 0.005)
    return out * attack


def window(rng: np.random.Generator) -> np.ndarray:
    """2 s of music: 4-10 notes, up to three sounding together."""
    audio = np.zeros(SAMPLES)
    for _ in range(rng.integers(4, 11)):
        start = int(rng.uniform(0, 0.85) * SAMPLES)
        note = tone(int(rng.integers(40, 85)), rng.uniform(0.2, 1.2), rng)[: SAMPLES - start]
        audio[start:start + len(note)] += note * rng.uniform(0.1, 0.35)
    audio += rng.normal(0, 0.002, SAMPLES)
    return (audio / max(1.0, np.abs(audio).max())).astype(np.float32)


def main() -> None:
    for split, count in SPLITS.items():
        rng = np.random.default_rng(len(split) + 100)
        audio = np.stack([window(rng) for _ in range(count)])[..., None]  # [n, 43844, 1]
        np.savez_compressed(HERE / f"{split}.npz", **{INPUT: audio})


if __name__ == "__main__":
    main()

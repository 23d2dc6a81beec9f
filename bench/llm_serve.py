"""What `edgeconv serve` adds to a generation: the same greedy answer timed through the runner in this process and
through the server's OpenAI-compatible streaming endpoint with the official ``openai`` client, in alternating
rounds (medians). Usage: python bench/llm_serve.py OUT_DIR_OR_GENAI_FOLDER [--rounds 5] [--tokens 64]"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

QUESTION = ("Summarise in a few sentences why the sky looks blue during the day and red at sunset, and what "
            "Rayleigh scattering has to do with it.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import openai

    from edgeconv.serve.model import load_model
    from tests.serve.test_serve import server

    model = load_model(args.source, None, None, None)  # the runner in this process: the artifact serve picks
    ids = model.chat_ids([{"role": "user", "content": QUESTION}])
    rows: dict[str, list[tuple[float, float]]] = {"runner": [], "serve (openai client, SSE)": []}
    with server(args.source) as url:  # a free loopback port
        client = openai.OpenAI(base_url=url + "/v1", api_key="none")
        for round_ in range(args.rounds + 1):  # round 0 warms both up
            gen = model.runner.generate(ids, args.tokens)
            gaps = gen.token_times_s[-1] - gen.token_times_s[0]
            direct = (gen.ttft_s, (len(gen.tokens) - 1) / gaps)
            start, times, made = time.perf_counter(), [], 0
            stream = client.chat.completions.create(model=model.name, messages=[{"role": "user", "content": QUESTION}],
                                                    max_tokens=args.tokens, stream=True,
                                                    stream_options={"include_usage": True})
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append(time.perf_counter() - start)
                made = chunk.usage.completion_tokens if chunk.usage else made
            served = (times[0], (made - 1) / (times[-1] - times[0]))  # a held-back piece comes with the next
            if round_:
                rows["runner"].append(direct)
                rows["serve (openai client, SSE)"].append(served)
    print(f"{len(ids)}-token prompt, {args.tokens} new tokens, {args.rounds} rounds (medians)")
    print("| path | TTFT ms | decode tok/s |\n|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(v[0] for v in values) * 1e3:.1f} | "
              f"{statistics.median(v[1] for v in values):.1f} |")


if __name__ == "__main__":
    main()

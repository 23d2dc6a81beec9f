"""`edgeconv serve` of a text-generation artifact, talked to with the official ``openai`` client on loopback.

The server serves the session's shared int4 ONNX Runtime GenAI artifact (tests/llm_shared.py: no build of its
own); what it answers is held against the same artifact's runner generating greedily in this process, with the
prompt built independently (transformers' chat template on the reference tokenizer, not the artifact's).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from edgeconv.serve.generative import TextStream
from tests import llm_shared
from tests.serve.test_serve import server

openai = pytest.importorskip("openai", reason="the openai client is in the dev extra")
QUESTION = llm_shared.PROMPTS[0]
COUNTING = "1, 2, 3, 4,"  # greedy decoding keeps counting: a long answer to interrupt
NAME = "genai-int4"  # the artifact folder's name


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, str]]:
    """(an openai client of the server, the artifact's runner in this process, the server's URL)."""
    from edgeconv.backends.onnxruntime_genai.runner import GenaiRunner

    folder = llm_shared.int4_artifact(tmp_path_factory).folder
    assert folder.name == NAME
    with GenaiRunner(str(folder), threads=1) as runner, server(folder, "--threads", "1") as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0), runner, url


def greedy(runner: Any, ids: list[int], new_tokens: int) -> tuple[str, Any]:
    generation = runner.generate(ids, new_tokens)
    return runner.decode(generation.tokens), generation


def metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        lines = response.read().decode().splitlines()
    return {m[1]: float(m[2]) for line in lines if (m := re.match(r"^(\S+) (\S+)$", line))}


def test_models_lists_the_served_model(served: tuple[Any, Any, str]) -> None:
    client, _, _ = served
    assert [m.id for m in client.models.list().data] == [NAME]
    assert client.models.retrieve(NAME).owned_by == "edgeconv"


def test_a_chat_completion_is_the_runners_greedy_generation(tmp_path_factory: pytest.TempPathFactory,
                                                           served: tuple[Any, Any, str]) -> None:
    client, runner, _ = served
    ids = llm_shared.prompt_ids(llm_shared.reference(tmp_path_factory), QUESTION)
    text, generation = greedy(runner, ids, 24)
    answer = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": QUESTION}],
                                            max_tokens=24, temperature=0)
    assert answer.choices[0].message.content == text and text.strip()
    assert answer.choices[0].finish_reason == ("stop" if generation.stopped else "length")
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (len(ids), len(generation.tokens))
    assert answer.object == "chat.completion" and answer.model == NAME


def test_a_streamed_chat_completion_yields_the_same_text_chunk_by_chunk(tmp_path_factory: pytest.TempPathFactory,
                                                                       served: tuple[Any, Any, str]) -> None:
    client, runner, _ = served
    ids = llm_shared.prompt_ids(llm_shared.reference(tmp_path_factory), QUESTION)
    text, generation = greedy(runner, ids, 24)
    chunks = list(client.chat.completions.create(
        model=NAME, messages=[{"role": "user", "content": QUESTION}], max_completion_tokens=24, stream=True,
        stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == text and len(pieces) > 3
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop" if generation.stopped else "length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(generation.tokens)


def test_concurrent_requests_wait_their_turn_and_each_gets_its_own_answer(served: tuple[Any, Any, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, runner, _ = served
    prompts = ["1, 2, 3,", "The capital of France is", "Red, green and"]
    expected = [greedy(runner, runner.encode(p), 8)[0] for p in prompts]
    with ThreadPoolExecutor(max_workers=3) as pool:  # one generation at a time on the server: they queue
        answers = list(pool.map(lambda p: client.completions.create(model=NAME, prompt=p, max_tokens=8), prompts))
    assert [a.choices[0].text for a in answers] == expected


def test_a_completion_ends_at_a_stop_string(served: tuple[Any, Any, str]) -> None:
    client, runner, _ = served
    text, _ = greedy(runner, runner.encode(COUNTING), 30)
    assert ", 9," in text
    answer = client.completions.create(model=NAME, prompt=COUNTING, max_tokens=30, stop=[", 9", "never"])
    assert answer.choices[0].text == text.split(", 9")[0] and answer.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model=NAME, prompt=COUNTING, max_tokens=30, stop=", 9", stream=True)
    assert "".join(c.choices[0].text for c in streamed) == answer.choices[0].text


def test_a_sampled_completion_is_the_runtimes_draw_repeated_by_its_seed(served: tuple[Any, Any, str]) -> None:
    """temperature > 0 samples with onnxruntime-genai's sampler: the same seed gives the runner's own draw (and
    the same draw twice), other seeds give other texts, where greedy decoding would give one text for all."""
    from edgeconv.verify.generation import Sampling

    client, runner, _ = served
    prompt = "My favourite food is"
    ids = runner.encode(prompt)
    draw = Sampling(temperature=1.5, top_p=0.95, top_k=0, seed=7)
    expected = runner.decode(runner.generate(ids, 12, sampling=draw).tokens)
    ask = {"model": NAME, "prompt": prompt, "max_tokens": 12, "temperature": 1.5, "top_p": 0.95}
    texts = [client.completions.create(**ask, seed=7).choices[0].text for _ in range(2)]
    assert texts == [expected, expected]
    others = {client.completions.create(**ask, seed=s).choices[0].text for s in range(1, 6)}
    assert len(others | {expected}) > 1 and expected != greedy(runner, ids, 12)[0]


@pytest.mark.parametrize(("extra", "error", "param"), [
    ({"temperature": 2.5}, "BadRequestError", "temperature"),
    ({"temperature": 0.7, "top_p": 0}, "BadRequestError", "top_p"),
    ({"extra_body": {"top_k": "5"}}, "BadRequestError", "top_k"),
    ({"n": 2}, "BadRequestError", "n"),
    ({"logprobs": True}, "BadRequestError", "logprobs"),
    ({"max_tokens": 9000}, "BadRequestError", "max_tokens"),  # the context is 8192 tokens
    ({"model": "gpt-4o"}, "NotFoundError", "model"),
])
def test_what_the_server_cannot_serve_is_an_openai_error(served: tuple[Any, Any, str], extra: dict[str, Any],
                                                         error: str, param: str) -> None:
    client, _, _ = served
    request = {"model": NAME, "messages": [{"role": "user", "content": QUESTION}], **extra}
    with pytest.raises(getattr(openai, error)) as raised:
        client.chat.completions.create(**request)
    assert raised.value.body["param"] == param and raised.value.body["message"]
    assert client.models.list().data  # the server lives on


def test_a_prompt_longer_than_the_context_is_a_readable_400(served: tuple[Any, Any, str]) -> None:
    client, _, _ = served
    with pytest.raises(openai.BadRequestError) as raised:
        client.completions.create(model=NAME, prompt="one two " * 5000, max_tokens=1)
    assert raised.value.code == "context_length_exceeded" and "context is 8192 tokens" in raised.value.message


def test_a_disconnect_stops_generating_and_metrics_count_tokens_and_ttft(served: tuple[Any, Any, str]) -> None:
    client, _, url = served
    before = metrics(url)
    body = json.dumps({"model": NAME, "prompt": COUNTING, "max_tokens": 400, "stream": True}).encode()
    request = urllib.request.Request(url + "/v1/completions", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.readline().startswith(b"data: {")  # generating; then the client goes away
    after_next = client.completions.create(model=NAME, prompt=COUNTING, max_tokens=2)  # waits for the model
    after = metrics(url)
    cancelled = 'edgeconv_generations_total{finish_reason="cancelled"}'
    assert after.get(cancelled, 0) == before.get(cancelled, 0) + 1
    made = after["edgeconv_generated_tokens_total"] - before["edgeconv_generated_tokens_total"]
    assert after_next.usage.completion_tokens <= made < 400 / 2  # the runner stopped, long before max_tokens
    ttft = "edgeconv_time_to_first_token_seconds_count"
    assert after[ttft] == before[ttft] + 2


def test_only_onnx_runtime_genai_artifacts_are_served(tmp_path_factory: pytest.TempPathFactory) -> None:
    from edgeconv.errors import SpecError
    from edgeconv.serve.generative import load_generative

    folder = llm_shared.int4_artifact(tmp_path_factory).folder
    with pytest.raises(SpecError, match=r"ONNX Runtime GenAI artifacts, not .*OpenVINOGenaiRunner"):
        load_generative(folder, NAME, "edgeconv.backends.openvino_genai.runner:OpenVINOGenaiRunner")


def test_text_pieces_hold_back_a_possible_stop_string_and_split_characters() -> None:
    vocabulary = {1: "The", 2: " end", 3: ".", 4: "\xe2", 5: "\x82\xac", 6: " EN", 7: "D"}

    def decode(tokens: list[int]) -> str:  # byte-level: 4 + 5 are the three bytes of one character
        return b"".join(vocabulary[t].encode("latin-1") for t in tokens).decode("utf-8", errors="replace")

    stream = TextStream(decode, ["END"])
    pieces = [stream.add(t) for t in (1, 2, 4, 5, 6)]
    assert pieces == [("The", False), (" end", False), ("", False), ("€", False), (" ", False)]  # " EN": held
    assert stream.add(7) == ("", True)
    free = TextStream(decode, ["END"])
    assert [free.add(t)[0] for t in (1, 6)] + [free.finish()] == ["The", " ", "EN"]

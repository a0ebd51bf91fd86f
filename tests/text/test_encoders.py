"""The real language models, offline: similarity orderings, agreement with sentence-transformers, limits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tiderec.errors import ConfigError
from tiderec.text.choose import choose_encoder
from tiderec.text.encoders import EncoderConfig, TextEncoder, load_encoder
from tiderec.types import Items

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoders() -> dict[str, TextEncoder]:
    return {name: load_encoder(EncoderConfig(name=name, threads=2)) for name in ("minilm", "use", "e5")}


def cos(encoder: TextEncoder, a: str, b: str) -> float:
    va, vb = encoder.encode_queries([a, b])
    return float(va @ vb)


@pytest.mark.parametrize("name", ["use", "e5"])
def test_multilingual_similarity_orderings(encoders: dict[str, TextEncoder], name: str) -> None:
    enc = encoders[name]
    assert cos(enc, "跑步鞋", "运动鞋") > cos(enc, "跑步鞋", "帐篷")
    assert cos(enc, "running shoes", "跑步鞋") > cos(enc, "running shoes", "帐篷")
    assert cos(enc, "手机壳", "phone case") > cos(enc, "手机壳", "洗发水")


def test_minilm_english_ordering_and_its_blindness_to_chinese(encoders: dict[str, TextEncoder]) -> None:
    enc = encoders["minilm"]
    assert cos(enc, "running shoes", "sneakers for jogging") > cos(enc, "running shoes", "camping tent")
    assert cos(enc, "跑步鞋", "运动鞋") > 0.99  # both are only [UNK] tokens to MiniLM


def test_vectors_are_unit_length_float32(encoders: dict[str, TextEncoder]) -> None:
    for enc in encoders.values():
        v = enc.encode_passages(["WHITE HANGING HEART T-LIGHT HOLDER", "李宁男子跑步鞋", ""])
        assert v.dtype == np.float32
        assert v.shape == (3, enc.dim)
        np.testing.assert_allclose(np.linalg.norm(v[:2], axis=1), 1.0, atol=1e-5)


def test_e5_queries_and_passages_differ(encoders: dict[str, TextEncoder]) -> None:
    enc = encoders["e5"]
    q, p = enc.encode_queries(["跑步鞋"])[0], enc.encode_passages(["跑步鞋"])[0]
    assert float(q @ p) < 0.999


def test_minilm_runtimes_match_sentence_transformers(data_root: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from tiderec.text.encoders.minilm import model_dir

    titles = (
        pl.read_csv(data_root / "online-retail/onlineretail.csv.gz", infer_schema=False, n_rows=3000)["Description"]
        .drop_nulls()
        .unique(maintain_order=True)
        .to_list()
    )
    reference = SentenceTransformer(str(model_dir()), device="cpu").encode(titles, batch_size=64)
    for runtime in ("onnx", "torch"):
        ours = load_encoder(EncoderConfig(name="minilm", runtime=runtime, threads=2)).encode_passages(titles)
        assert float((ours * reference).sum(axis=1).min()) > 0.9999, runtime


def test_over_length_is_counted(encoders: dict[str, TextEncoder]) -> None:
    long = "outdoor " * 800
    assert encoders["minilm"].count_over_length(["short", long]) == 1
    assert encoders["e5"].count_over_length(["short", long]) == 1
    assert encoders["use"].count_over_length([long]) == 0


def test_unknown_encoder_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown encoder 'bert'; valid encoders: \['e5', 'minilm', 'use'\]"):
        load_encoder(EncoderConfig(name="bert"))


def test_choice_follows_catalogue_language() -> None:
    en = Items.from_frame(pl.DataFrame({"item_id": ["a", "b"], "title": ["Tent", "Shoe"], "language": ["en", "en"]}))
    zh = Items.from_frame(pl.DataFrame({"item_id": ["a", "b"], "title": ["帐篷", "Shoe"], "language": ["zh", "en"]}))
    assert choose_encoder(en)[0] == "minilm"
    assert choose_encoder(zh)[0] == "e5"


def test_encoding_works_with_the_network_blocked(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "TIDEREC_CACHE": str(tmp_path / "cache"),
    }
    code = (
        "from tiderec.text.encoders import EncoderConfig, load_encoder\n"
        "for name in ('minilm', 'use', 'e5'):\n"
        "    v = load_encoder(EncoderConfig(name=name, threads=1)).encode_passages(['trail running shoes'])\n"
        "    assert v.shape[0] == 1 and abs(float((v * v).sum()) - 1) < 1e-4, name\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
    assert list((tmp_path / "cache").glob("*.onnx")), "the ONNX export was not cached"


@pytest.mark.gpu
def test_minilm_on_cuda_in_half_precision_matches_cpu() -> None:
    texts = ["trail running shoes", "WHITE HANGING HEART T-LIGHT HOLDER"]
    gpu = load_encoder(EncoderConfig(name="minilm", device="cuda")).encode_passages(texts)
    cpu = load_encoder(EncoderConfig(name="minilm", device="cpu")).encode_passages(texts)
    assert float((gpu * cpu).sum(axis=1).min()) > 0.999

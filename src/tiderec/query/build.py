"""Builds the Chinese title tagger that `tiderec query` uses, in minutes: BiLSTM-CRF members (one per seed, trained
side by side in processes of their own) over characters, lexicon and word flags and multilingual-e5-small states, on
the distinct training titles plus the partially labelled titles of a second source (query/extra_titles.py), each
one's epoch picked on titles held out by title, decoded as one ensemble and saved with a build record. Why: the
5-seed ensemble of benchmarks/bench_ner.py takes most of an hour; two members with an epoch cap, one per core, fit the
10-minute out-of-the-box build."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from tiderec.ingest.datasets import data_root
from tiderec.query.extra_titles import extra_titles, read_bieos
from tiderec.query.ner import (
    Sentence,
    TrainConfig,
    TrainedTagger,
    ensemble,
    prf,
    read_dictionaries,
    spans,
    train_tagger,
)
from tiderec.query.ner_splits import title_splits
from tiderec.query.tagger import TaggerConfig
from tiderec.query.understand import intent_model

QUERY_ARTEFACTS = Path("runs/query")
"""Where `tiderec query build` puts its artefacts and where `tiderec query` and `tiderec serve` look by default."""
BUILD_VERSION = 5
"""Bumped whenever a build's recipe changes, so a folder says which recipe made it."""


def _quick() -> TrainConfig:
    """11 epochs at most (of the Taobao titles plus the second source's), 5 without a better validation F1 to stop;
    dropout 0.5; an O of the second source hides a model or attribute only where one is plausible (version 3,
    ner.hidden_plausible). On validation titles, product / brand F1 of the tagger alone (through the query path),
    seeds 0 and 1: version 3 0.777 / 0.653 (0.775 / 0.661) and 0.764 / 0.657 (0.769 / 0.671); version 2 (hidden types
    anywhere) 0.771 / 0.671 (0.776 / 0.668) and 0.759 / 0.694 (0.764 / 0.693); without the second source's titles
    (version 1: 20 epochs) 0.766 / 0.651 (0.769 / 0.664) and 0.767 / 0.632 (0.761 / 0.639). Query suite dev half,
    attribute F1: version 3 0.938 and 0.909, version 2 0.811 and 0.822, version 1 0.833 and 0.824 (same tidy rules).
    Earlier, without the second source: dropout 0.3 0.755 / 0.577, no bigram embeddings 0.747 / 0.606. An epoch takes
    about 2.3 times as long (7,777 titles against 4,127), hence 14 epochs, not 20 (version 2's best validation epoch
    was the 13th for both seeds). Version 4 adds word segmentation flags (query/words.py) and a second member: the
    tagger alone, validation product / brand / all, seeds 0, 1, 2: with the flags 0.777 / 0.700 / 0.741, 0.775 /
    0.659 / 0.737, 0.784 / 0.668 / 0.743; without 0.777 / 0.653 / 0.735, 0.764 / 0.657 / 0.723, 0.768 / 0.678 /
    0.726; members 0 + 1 with the flags 0.786 / 0.680 / 0.749. Version 5 adds each character's state after layer 6
    of multilingual-e5-small, projected to 64 columns: seeds 0 and 1 0.783 / 0.756 / 0.759 and 0.782 / 0.742 / 0.759,
    members 0 + 1 0.784 / 0.757 / 0.763 (seed 0 with the 384 states unprojected, layer 4 / 6 / 8 / mean of 9-12: all
    entities 0.762 / 0.767 / 0.767 / 0.756, at about 1.3 times the epoch time of the projection). Its members' best
    validation epochs were the 10th and 11th of 14, so it stops at 11: the same tagger, three epochs sooner."""
    return TrainConfig(TaggerConfig(dropout=0.5, states_dim=64), epochs=11, patience=5, e5_layer=6)


@dataclass(frozen=True)
class TaggerBuild:
    """Settings of one build: the training recipe, the validation share held out by title, its seed, torch threads,
    whether the second source's titles (ecommerce-ner-dicts/train.txt.bieos) join the training titles, and how many
    members (seeds train.seed, train.seed + 1, ...) the ensemble has; members train side by side, as many at once as
    there are threads."""

    train: TrainConfig = field(default_factory=_quick)
    valid_share: float = 0.1
    split_seed: int = 0
    threads: int = 1
    extra: bool = True
    members: int = 2

    def __post_init__(self) -> None:
        if self.members < 1 or self.threads < 1:
            raise ValueError(f"a tagger build needs members >= 1 and threads >= 1 (got {self.members}, {self.threads})")


def _member(
    train: list[Sentence], valid: list[Sentence], config: TrainConfig, lexicon: dict[str, set[str]], threads: int,
    position: int, progress: bool,
) -> tuple[TrainedTagger, list[float]]:  # fmt: skip
    """One member, trained with `threads` torch threads (in a worker process of its own when members run at once)."""
    torch.set_num_threads(threads)
    return train_tagger(train, valid, config, lexicon, progress, f"tagger {position + 1}", position)


def _members(
    train: list[Sentence], valid: list[Sentence], build: TaggerBuild, lexicon: dict[str, set[str]], progress: bool
) -> list[tuple[TrainedTagger, list[float]]]:
    """Every member: in this process when one runs at a time, else in spawned processes splitting the threads."""
    configs = [replace(build.train, seed=build.train.seed + k) for k in range(build.members)]
    at_once = min(build.members, build.threads)
    if at_once == 1:
        return [_member(train, valid, c, lexicon, build.threads, k, progress) for k, c in enumerate(configs)]
    with ProcessPoolExecutor(at_once, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = [
            pool.submit(_member, train, valid, c, lexicon, build.threads // at_once, k, progress)
            for k, c in enumerate(configs)
        ]
        return [job.result() for job in jobs]


def build_tagger(out: Path, build: TaggerBuild = TaggerBuild(), progress: bool = True) -> dict[str, Any]:
    """Trains the tagger from ../shared/data into `out` (tagger files + build.json) and returns the build record."""
    torch.set_num_threads(build.threads)
    splits = title_splits(data_root() / "text-zh" / "taobao-title-ner", build.valid_share, build.split_seed)
    dicts = data_root() / "text-zh" / "ecommerce-ner-dicts"
    lexicon = read_dictionaries(dicts)
    known = splits.train + splits.valid + splits.dev
    extra = extra_titles(read_bieos(dicts / "train.txt.bieos"), known) if build.extra else []
    start = time.perf_counter()
    trained = _members(splits.train + extra, splits.valid, build, lexicon, progress)
    tagger = ensemble([t for t, _ in trained])
    seconds = round(time.perf_counter() - start, 1)
    scores = prf([spans(s.tags) for s in splits.valid], tagger.predict([s.chars for s in splits.valid]))
    record = {
        "version": BUILD_VERSION,
        "build": asdict(build),
        "data": splits.describe()
        + (
            f"; + {len(extra)} partially labelled titles of {dicts.name}/train.txt.bieos "
            "(brand and product word only; none of them a training, validation or dev title)"
            if extra
            else ""
        ),
        "validation_f1_per_epoch": [[round(h, 4) for h in history] for _, history in trained],
        "validation_f1_per_type": {k: round(v["f1"], 4) for k, v in scores.items()},
        "train_seconds": seconds,
    }
    tagger.save(out)
    (out / "build.json").write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    return record


def load_tagger(folder: Path) -> TrainedTagger | None:
    """The tagger saved in `folder`, or None when none was built there."""
    return TrainedTagger.load(folder) if (folder / "tagger.json").is_file() else None


def build_query_artefacts(
    out: Path = QUERY_ARTEFACTS, build: TaggerBuild = TaggerBuild(), threads: int = 2
) -> dict[str, Any]:
    """Every artefact `tiderec query` needs, built afresh into out/intent and out/tagger (each written beside and
    renamed into place, so a failed build leaves the previous one), with a manifest naming the recipe version."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    intent_tmp = out / "intent.part"
    shutil.rmtree(intent_tmp, ignore_errors=True)
    intent_model(intent_tmp, threads=threads)
    _swap(intent_tmp, out / "intent")
    tagger_tmp = out / "tagger.part"
    shutil.rmtree(tagger_tmp, ignore_errors=True)
    record = build_tagger(tagger_tmp, replace(build, threads=threads))
    _swap(tagger_tmp, out / "tagger")
    manifest = {"version": BUILD_VERSION, "seconds": round(time.perf_counter() - start, 1), "tagger": record}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def _swap(built: Path, final: Path) -> None:
    shutil.rmtree(final, ignore_errors=True)
    built.rename(final)

"""The cleaned artefact folder: events, negatives, aligned items, vocabularies, report, config, manifest."""

from __future__ import annotations

from pathlib import Path

from tiderec import config as configs
from tiderec.artefacts import read_json, read_manifest, write_json, writing
from tiderec.clean.config import CleanConfig
from tiderec.clean.pipeline import CleanResult
from tiderec.clean.report import CleaningReport
from tiderec.clean.vocab import Vocabulary
from tiderec.types import Events, Items

KIND = "tiderec.cleaned"
USER_VOCAB = "users.vocab.parquet"
ITEM_VOCAB = "items.vocab.parquet"


def write_cleaned(result: CleanResult, out: Path) -> None:
    fields = {
        "events": len(result.events),
        "negatives": len(result.negatives),
        "users": len(result.user_vocab),
        "items": len(result.item_vocab),
        "meta": dict(result.events.meta),
    }
    with writing(out, KIND, fields) as tmp:
        result.events.write_parquet(tmp / "events.parquet")
        result.negatives.write_parquet(tmp / "negatives.parquet")
        result.items.write_parquet(tmp / "items.parquet")
        result.user_vocab.write(tmp / USER_VOCAB)
        result.item_vocab.write(tmp / ITEM_VOCAB)
        write_json(tmp / "cleaning_report.json", result.report.to_dict())
        (tmp / "cleaning_report.md").write_text(result.report.to_markdown(), encoding="utf-8")
        configs.dump(result.config, tmp / "clean_config.toml")


def read_cleaned(folder: Path) -> CleanResult:
    read_manifest(folder, (KIND,))
    return CleanResult(
        events=Events.read_parquet(folder / "events.parquet"),
        negatives=Events.read_parquet(folder / "negatives.parquet"),
        items=Items.read_parquet(folder / "items.parquet"),
        user_vocab=Vocabulary.read(folder / USER_VOCAB),
        item_vocab=Vocabulary.read(folder / ITEM_VOCAB),
        report=read_json(folder / "cleaning_report.json", CleaningReport.from_dict),
        config=configs.load(CleanConfig, folder / "clean_config.toml"),
    )

"""Apply the cleaning rules in order and build the vocabularies: Events -> cleaned Events + report."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tiderec.clean import rules
from tiderec.clean.config import CleanConfig
from tiderec.clean.report import CleaningReport, RuleResult
from tiderec.clean.vocab import Vocabulary
from tiderec.config import to_dict
from tiderec.ingest.report import IngestReport
from tiderec.types import Events, Items

ORDER = rules.ORDER


@dataclass(frozen=True)
class CleanResult:
    """Cleaned events in time order, negative feedback kept apart, vocabularies and the aligned catalogue.

    `items` holds one row per item of `item_vocab`, in vocabulary order (catalogue fields empty where the
    catalogue has no row for an item).
    """

    events: Events
    negatives: Events
    items: Items
    user_vocab: Vocabulary
    item_vocab: Vocabulary
    report: CleaningReport
    config: CleanConfig


def clean(
    events: Events,
    items: Items | None = None,
    config: CleanConfig | None = None,
    ingest_report: IngestReport | None = None,
) -> CleanResult:
    """Run every rule of `config` (see CleanConfig for the order) on `events`."""
    cfg = config or CleanConfig()
    ordinal_time = events.meta.get("time") == "order"
    frame = events.frame.with_row_index(ORDER).sort("ts", ORDER, maintain_order=True, nulls_last=True)
    frame = frame.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias(ORDER))
    users_in = frame["user_id"].drop_nulls().n_unique()
    items_in = frame["item_id"].drop_nulls().n_unique()

    results: list[RuleResult] = []
    for rule, missing in rules.MISSING_CHECKS:
        frame, result = rules.drop_missing(frame, rule, missing)
        results.append(result.after(frame))
    frame, result = rules.time_window(frame, cfg.time_window)
    results.append(result.after(frame))
    frame, negatives, negative_results = rules.negatives(frame, cfg.negatives)
    results += negative_results
    frame, result = rules.duplicates(frame, cfg.duplicates)
    results.append(result.after(frame))
    if ordinal_time:
        result = RuleResult("bot-like user", 0, detail="skipped: timestamps are only an order")
    else:
        frame, result = rules.bots(frame, cfg.bots)
    results.append(result.after(frame))
    frame, result = rules.repeats(frame, cfg.repeats)
    results.append(result.after(frame))
    frame, result = rules.k_core(frame, cfg.k_core)
    results.append(result.after(frame))
    sessions_cfg = cfg.sessions
    if ordinal_time and sessions_cfg.mode == "gap":
        sessions_cfg = type(sessions_cfg)(mode="none")
    frame = rules.sessions(frame, sessions_cfg)

    cleaned = events.with_frame(frame.drop(ORDER))
    kept_apart = events.with_frame(negatives.drop(ORDER))
    user_vocab = Vocabulary.from_ids(cleaned.frame["user_id"])
    item_vocab = Vocabulary.from_ids(cleaned.frame["item_id"])
    aligned = _aligned_items(items or Items.empty(events.meta), item_vocab)
    report = CleaningReport(
        rows_in=len(events),
        rows_out=len(cleaned),
        users_in=users_in,
        users_out=len(user_vocab),
        items_in=items_in,
        items_out=len(item_vocab),
        sessions=cleaned.frame["session_id"].n_unique() - int(cleaned.frame["session_id"].null_count() > 0),
        rules=tuple(results),
        config=to_dict(cfg),
        ingest=ingest_report,
    )
    return CleanResult(cleaned, kept_apart, aligned, user_vocab, item_vocab, report, cfg)


def _aligned_items(items: Items, vocab: Vocabulary) -> Items:
    order = pl.DataFrame({"item_id": vocab.ids})
    frame = order.join(items.frame, on="item_id", how="left", maintain_order="left")
    return Items(frame.select(items.frame.columns), items.meta)

"""Grow a real dataset k times ("k disjoint worlds") to measure how encoding and training cost scale.

The output holds `factor` copies of the input world. Copy 0 is the input unchanged; copy r >= 1 renames every
user, item, session and basket id `X` to `X~r` and keeps every other event column, so each copy has exactly
the input's per-user sequences, item popularity and co-occurrence, and no event links two copies. A copy's
item keeps every catalogue field except its text: the title (and the description, the same way) becomes the
first half of its own text plus the second half of another real item's text, drawn at random among items of
the same category when there are others, so a text encoder reads new, realistic text for every copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from tiderec.config import STRICT
from tiderec.errors import ConfigError, DatasetError
from tiderec.ingest.report import IngestReport
from tiderec.ingest.tabular import Dataset
from tiderec.types import Events, Items

SEPARATOR = "~"
ID_COLUMNS = ("user_id", "item_id", "session_id", "basket_id")
"""Event columns renamed per copy: the ids that tie events together (users, items, sessions, baskets)."""
TEXT_FIELDS = ("title", "description")
"""Item fields recombined per copy; every other catalogue field is copied as it is."""
UNSPACED = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]"
"""Scripts written without spaces between words: such text, when it has no whitespace, is split by character."""
_COPY = "_copy"


@dataclass(frozen=True)
class GrowConfig:
    """How many worlds the output holds (1 = the input as it is) and the seed of the title recombination."""

    __pydantic_config__ = STRICT

    factor: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise ConfigError(f"grow: factor must be an integer >= 1 (1 = unchanged), got {self.factor}")
        if self.seed < 0:
            raise ConfigError(f"grow: seed must be >= 0, got {self.seed}")


def grow(dataset: Dataset, config: GrowConfig) -> Dataset:
    """`config.factor` disjoint copies of `dataset` (see the module docstring); factor 1 returns it unchanged."""
    if config.factor == 1:
        return dataset
    for column in ID_COLUMNS:
        _check_no_collision(dataset.events.frame[column], config.factor, f"events {column}")
    _check_no_collision(dataset.items.frame["item_id"], config.factor, "items item_id")
    meta = {"grown": str(config.factor), "grown_seed": str(config.seed)}
    events = Events(_grow_events(dataset.events.frame, config.factor), {**dataset.events.meta, **meta})
    items = Items(_grow_items(dataset.items.frame, config), {**dataset.items.meta, **meta})
    return Dataset(events, items, _grown_report(dataset, events, items, config))


def _grow_events(frame: pl.DataFrame, factor: int) -> pl.DataFrame:
    """Each event repeated once per copy, consecutively, so a time-ordered input stays time-ordered."""
    suffix = pl.concat_str(pl.lit(SEPARATOR), pl.col(_COPY).cast(pl.String))
    renamed = [
        pl.when(pl.col(_COPY) == 0).then(pl.col(c)).otherwise(pl.concat_str(pl.col(c), suffix)).alias(c)
        for c in ID_COLUMNS
    ]
    return (
        frame.lazy()
        .with_columns(pl.int_ranges(0, factor, dtype=pl.UInt32).alias(_COPY))
        .explode(_COPY)
        .with_columns(renamed)
        .select(frame.columns)
        .collect()
    )


def _grow_items(frame: pl.DataFrame, config: GrowConfig) -> pl.DataFrame:
    """The catalogue once per copy: copy 0 as it is, copy r with renamed ids and recombined text fields."""
    recombiners = [_Recombiner.of(frame, name) for name in TEXT_FIELDS]
    copies = [frame]
    for r in range(1, config.factor):
        rng = np.random.default_rng((config.seed, r))
        copy = frame.with_columns(pl.concat_str(pl.col("item_id"), pl.lit(f"{SEPARATOR}{r}")).alias("item_id"))
        copies.append(copy.with_columns(rec.draw(rng) for rec in recombiners))
    return pl.concat(copies, how="vertical")


@dataclass(frozen=True)
class _Recombiner:
    """One text field's halves and donor pools, computed once and drawn from once per copy.

    Donor pools are stored end to end in `pool`: item i (i = targets[k]) draws uniformly among
    pool[start[k] : start[k] + size[k]] except its own slot pool[start[k] + own[k]].
    """

    original: pl.Series
    head: pl.Series
    tail: pl.Series
    spaced: np.ndarray
    targets: np.ndarray
    pool: np.ndarray
    start: np.ndarray
    size: np.ndarray
    own: np.ndarray

    @classmethod
    def of(cls, frame: pl.DataFrame, name: str) -> _Recombiner:
        """Split every item's text in halves and group the items that have text by their category path."""
        text = frame[name]
        halves = frame.select(
            pl.col(name).str.replace_all(r"\s+", " ").str.strip_chars().alias("norm"),
        ).with_columns(spaced=pl.col("norm").str.contains(" ") | ~pl.col("norm").str.contains(UNSPACED))
        tokens = pl.when(pl.col("spaced")).then(pl.col("norm").str.split(" ")).otherwise(pl.col("norm").str.split(""))
        half = (tokens.list.len() + 1) // 2
        joined = halves.select(
            "spaced",
            *(
                pl.when(pl.col("spaced")).then(part.list.join(" ")).otherwise(part.list.join("")).alias(alias)
                for alias, part in (("head", tokens.list.head(half)), ("tail", tokens.list.tail(half)))
            ),
        )
        has_text = (halves["norm"].fill_null("").str.len_chars() > 0).to_numpy()
        eligible = np.flatnonzero(has_text)
        category = frame["category"].list.join("\x1f").fill_null("")
        codes = category.rank("dense").to_numpy().astype(np.int64)
        codes[(category == "").to_numpy()] = -1
        targets, pool, start, size, own = _pools(eligible, codes[eligible])
        return cls(
            text,
            joined["head"],
            joined["tail"],
            joined["spaced"].fill_null(True).to_numpy(),
            targets,
            pool,
            start,
            size,
            own,
        )

    def draw(self, rng: np.random.Generator) -> pl.Series:
        """This field for one copy: head of the item's own text + tail of a random donor's; nulls stay null."""
        if len(self.targets) < 2:
            return self.original
        slot = rng.integers(0, self.size - 1)
        slot += slot >= self.own
        donors = self.pool[self.start + slot]
        both_unspaced = ~self.spaced[self.targets] & ~self.spaced[donors]
        texts = pl.DataFrame(
            {
                "head": self.head.gather(self.targets),
                "unspaced": both_unspaced,
                "tail": self.tail.gather(donors),
            }
        ).select(pl.concat_str("head", pl.when("unspaced").then(pl.lit("")).otherwise(pl.lit(" ")), "tail"))
        return self.original.scatter(self.targets, texts.to_series()).alias(self.original.name)


def _pools(
    eligible: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Donor pools of the items with text: their category when it holds another such item, else all of them.

    `codes` are the eligible items' category codes (-1 = none). Returns targets (item indices, grouped by
    category), the concatenated pools (all eligible items first, then each category's) and per target the
    start, size and own position of its pool.
    """
    n = len(eligible)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    _, first, counts = np.unique(sorted_codes, return_index=True, return_counts=True)
    group_first = np.repeat(first, counts)
    group_size = np.repeat(counts, counts)
    in_category = (sorted_codes >= 0) & (group_size >= 2)
    start = np.where(in_category, n + group_first, 0)
    size = np.where(in_category, group_size, n)
    own = np.where(in_category, np.arange(n) - group_first, order)
    return eligible[order], np.concatenate([eligible, eligible[order]]), start, size, own


def _check_no_collision(ids: pl.Series, factor: int, what: str) -> None:
    """Refuse input whose ids already include `X~r` next to `X` (e.g. grown twice): copies would share ids."""
    unique = ids.drop_nulls().unique()
    suffixed = unique.to_frame("id").select(
        pl.col("id").str.extract(rf"^(.*){re.escape(SEPARATOR)}([1-9][0-9]*)$", 1).alias("base"),
        pl.col("id").str.extract(rf"{re.escape(SEPARATOR)}([1-9][0-9]*)$", 1).cast(pl.Int64).alias("r"),
    )
    clash = suffixed.filter(pl.col("r").is_not_null() & (pl.col("r") < factor) & pl.col("base").is_in(unique.implode()))
    if clash.height:
        example = f"{clash['base'][0]}{SEPARATOR}{clash['r'][0]}"
        raise DatasetError(
            f"grow: {what} already holds {example!r} beside {clash['base'][0]!r}, which copy {clash['r'][0]} "
            f"would create; grow the original dataset instead (growing a grown dataset by k = growing it by k*factor)"
        )


def _grown_report(dataset: Dataset, events: Events, items: Items, config: GrowConfig) -> IngestReport:
    """The input's report (what was really read and rejected) plus a note saying how the tables were grown."""
    users_in = dataset.events.frame["user_id"].drop_nulls().n_unique()
    note = (
        f"grown {config.factor}x by `tiderec grow` (k disjoint worlds, seed {config.seed}): "
        f"events {len(dataset.events):,} -> {len(events):,}, users {users_in:,} -> {users_in * config.factor:,}, "
        f"catalogue {len(dataset.items):,} -> {len(items):,} items; rows read/kept count the source rows, not copies"
    )
    report = dataset.report
    return IngestReport(report.sources, report.rows_read, report.rows_kept, report.rejections, (*report.notes, note))

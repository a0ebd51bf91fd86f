"""Reader for logged bandit feedback in the Open Bandit Dataset's CSV form (one file per policy and campaign)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from tiderec.data.bandit import BanditLog
from tiderec.errors import BadRow, DatasetError

OBD_COLUMNS = ("item_id", "position", "click", "propensity_score")
"""Required columns; `user-item_affinity_<a>` columns, when present, become the per-round contexts."""


def read_open_bandit(path: Path, n_actions: int | None = None) -> BanditLog:
    """One `{policy}/{campaign}/{campaign}.csv` file -> BanditLog (positions shifted to 0-based). Actions are
    the item ids; n_actions defaults to the campaign's `item_context.csv` row count beside the file."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    frame = pl.read_csv(path, infer_schema_length=1000)
    missing = [c for c in OBD_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; expected at least {list(OBD_COLUMNS)}")
    if frame.height == 0:
        raise DatasetError(f"{path}: no rows")
    if n_actions is None:
        n_actions = _n_actions(path)
    _check(
        path,
        frame,
        "item_id",
        (pl.col("item_id") < 0) | (pl.col("item_id") >= n_actions),
        f"an item id in [0, {n_actions})",
    )
    _check(path, frame, "position", pl.col("position") < 1, "a position >= 1")
    _check(path, frame, "click", ~pl.col("click").is_in([0, 1]), "0 or 1")
    _check(
        path,
        frame,
        "propensity_score",
        (pl.col("propensity_score") <= 0) | (pl.col("propensity_score") > 1),
        "a probability in (0, 1]",
    )
    affinity = [c for c in frame.columns if c.startswith("user-item_affinity_")]
    contexts = frame.select(affinity).to_numpy().astype(np.float32) if affinity else None
    return BanditLog(
        actions=frame["item_id"].to_numpy().astype(np.int64),
        positions=frame["position"].to_numpy().astype(np.int64) - 1,
        rewards=frame["click"].to_numpy().astype(np.float64),
        pscores=frame["propensity_score"].to_numpy().astype(np.float64),
        n_actions=n_actions,
        n_positions=int(frame["position"].max()),  # type: ignore[arg-type]
        contexts=contexts,
        source=str(path),
    )


def _n_actions(path: Path) -> int:
    items = path.parent / "item_context.csv"
    if not items.is_file():
        raise DatasetError(f"{path}: no item_context.csv beside it; pass n_actions")
    return pl.read_csv(items).height


def _check(path: Path, frame: pl.DataFrame, column: str, bad: pl.Expr, expected: str) -> None:
    rows = frame.with_row_index("_row").filter(bad.fill_null(True))
    if rows.height:
        first = rows.row(0, named=True)
        row = BadRow(
            str(path),
            int(first["_row"]) + 2,
            column,
            f"bad value ({rows.height} such rows)",
            expected,
            str(first[column]),
        )
        raise DatasetError(row.describe())

"""A/B analysis from exposure and outcome logs: per variant and metric, the rate of exposures followed by that
outcome on the same item within a window, and the lift over control with bootstrap intervals over users (a
user's exposures are not independent). A sample-ratio-mismatch test guards the assignment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from tiderec.errors import DatasetError


@dataclass(frozen=True)
class LiftRow:
    """One (metric, variant): exposures converted / exposures, and the lift over control (0 for control)."""

    metric: str
    variant: str
    users: int
    exposures: int
    conversions: int
    rate: float
    rate_low: float
    rate_high: float
    lift: float
    lift_low: float
    lift_high: float


@dataclass(frozen=True)
class ExperimentReport:
    """Rows per metric and variant; users per variant; srm_p: the chi-square p-value of the user split against
    the expected shares (a tiny value means the assignment or the logging is broken); users seen in several
    variants are left out and counted."""

    control: str
    window_minutes: float
    rows: list[LiftRow]
    users: dict[str, int]
    srm_p: float
    mixed_users: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        lines = [
            f"# Experiment report (control: {self.control}; outcome within {self.window_minutes:g} min of exposure)",
            "",
            f"- users per variant: {self.users}; sample-ratio-mismatch p = {self.srm_p:.3g}"
            + (" (**assignment suspect**)" if self.srm_p < 0.001 else ""),
            f"- users left out for appearing in several variants: {self.mixed_users}",
            "",
            "| metric | variant | users | exposures | conversions | rate (95% CI) | lift vs control (95% CI) |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for r in self.rows:
            lift = "—" if r.variant == self.control else f"{r.lift:+.1%} ({r.lift_low:+.1%}, {r.lift_high:+.1%})"
            lines.append(
                f"| {r.metric} | {r.variant} | {r.users} | {r.exposures} | {r.conversions} | "
                f"{r.rate:.4%} ({r.rate_low:.4%}, {r.rate_high:.4%}) | {lift} |"
            )
        return "\n".join(lines) + "\n"


EXPOSURE_COLUMNS = ("user_id", "item_id", "ts_us", "variant")
OUTCOME_COLUMNS = ("user_id", "item_id", "ts_us", "event_type")


def analyse(
    exposures: pl.DataFrame,
    outcomes: pl.DataFrame,
    control: str,
    *,
    window_minutes: float = 60.0,
    metrics: tuple[str, ...] | None = None,
    shares: Mapping[str, float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ExperimentReport:
    """exposures: user_id, item_id, ts_us, variant; outcomes: user_id, item_id, ts_us, event_type. Metrics
    default to the outcome event types present; shares default to equal."""
    _require(exposures, EXPOSURE_COLUMNS, "exposures")
    _require(outcomes, OUTCOME_COLUMNS, "outcomes")
    variants = sorted(exposures["variant"].unique().to_list())
    if control not in variants:
        raise DatasetError(f"exposures: control variant {control!r} not found; variants are {variants}")
    per_user = exposures.group_by("user_id").agg(pl.col("variant").n_unique().alias("n"), pl.col("variant").first())
    mixed = per_user.filter(pl.col("n") > 1)["user_id"]
    exposures = exposures.filter(~pl.col("user_id").is_in(mixed.implode()))
    users = {v: int((per_user.filter(pl.col("n") == 1)["variant"] == v).sum()) for v in variants}
    metrics = metrics or tuple(sorted(outcomes["event_type"].cast(pl.String).unique().to_list()))
    window_us = int(window_minutes * 60e6)
    exp = exposures.select(*EXPOSURE_COLUMNS).with_row_index("exposure")
    hits = (
        exp.join(outcomes.select(*OUTCOME_COLUMNS).rename({"ts_us": "out_us"}), on=["user_id", "item_id"])
        .filter((pl.col("out_us") > pl.col("ts_us")) & (pl.col("out_us") <= pl.col("ts_us") + window_us))
        .select("exposure", pl.col("event_type").cast(pl.String))
        .unique()
    )
    rng = np.random.default_rng(seed)
    rows: list[LiftRow] = []
    for metric in metrics:
        converted = exp.with_columns(
            pl.col("exposure").is_in(hits.filter(pl.col("event_type") == metric)["exposure"].implode()).alias("hit")
        )
        table = (
            converted.group_by("variant", "user_id")
            .agg(pl.len().alias("n"), pl.col("hit").sum().alias("c"))
            .sort("variant", "user_id")
        )
        boots = {v: _bootstrap(table.filter(pl.col("variant") == v), n_boot, rng) for v in variants}
        base = _rate(table.filter(pl.col("variant") == control))
        for v in variants:
            part = table.filter(pl.col("variant") == v)
            rate = _rate(part)
            lift_boot = boots[v] / np.where(boots[control] > 0, boots[control], np.nan) - 1
            lift_low, lift_high = (0.0, 0.0) if v == control else _quantiles(lift_boot)
            rate_low, rate_high = _quantiles(boots[v])
            rows.append(
                LiftRow(
                    metric, v, part.height, int(part["n"].sum()), int(part["c"].sum()), rate, rate_low, rate_high,
                    rate / base - 1 if base > 0 else float("nan"), lift_low, lift_high,
                )
            )  # fmt: skip
    expected = np.array([(shares or {}).get(v, 1.0) for v in variants], dtype=float)
    observed = np.array([users[v] for v in variants], dtype=float)
    srm = stats.chisquare(observed, expected / expected.sum() * observed.sum()) if observed.sum() else None
    return ExperimentReport(
        control, window_minutes, rows, users, float(srm.pvalue) if srm is not None else 1.0, mixed.len()
    )


def _rate(table: pl.DataFrame) -> float:
    n = int(table["n"].sum()) if table.height else 0
    return float(table["c"].sum()) / n if n else float("nan")


def _bootstrap(table: pl.DataFrame, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """float[n_boot]: the variant's rate with its users resampled with replacement."""
    if table.height == 0:
        return np.full(n_boot, np.nan)
    n, c = table["n"].to_numpy().astype(float), table["c"].to_numpy().astype(float)
    picks = rng.integers(0, len(n), size=(n_boot, len(n)))
    rates: np.ndarray = c[picks].sum(axis=1) / n[picks].sum(axis=1)
    return rates


def _quantiles(values: np.ndarray) -> tuple[float, float]:
    if np.isnan(values).all():
        return float("nan"), float("nan")
    low, high = np.nanquantile(values, [0.025, 0.975])
    return float(low), float(high)


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(f"{what}: missing column(s) {missing}; expected {list(columns)}")

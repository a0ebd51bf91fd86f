"""Named cleaning configs: the documented recipe for each shipped dataset, and the generic default."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tiderec.clean.config import (
    Bots,
    CleanConfig,
    Duplicates,
    KCore,
    Negatives,
    Repeats,
    TimeWindow,
)
from tiderec.errors import ConfigError

_CST = timezone(timedelta(hours=8), "Asia/Shanghai")

PRESETS: dict[str, CleanConfig] = {
    "default": CleanConfig(),
    # ../shared/data/online-retail/benchmark/README.md: customer present; drop 'C' invoices and
    # quantity <= 0; one row per (customer, stock code, invoice); consecutive repeats of an item; 5-core.
    "online-retail": CleanConfig(
        negatives=Negatives(cancellation_prefix="C", non_positive_value=True, action="keep_apart"),
        duplicates=Duplicates(keys=("user_id", "item_id", "basket_id")),
        bots=Bots(max_events=None),
        repeats=Repeats(action="drop", keys=("item_id",)),
        k_core=KCore(min_user=5, min_item=5),
    ),
    # Already cleaned by the recipe above; rank timestamps. Cleaning must not change a row.
    "online-retail-5core": CleanConfig(
        negatives=Negatives(non_positive_value=False),
        duplicates=Duplicates(enabled=False),
        repeats=Repeats(action="keep"),
        k_core=KCore(min_user=1, min_item=1),
    ),
    # The official window is 2017-11-25..12-03 in Beijing time (the timestamps are Unix seconds; activity
    # troughs at 02:00-05:00 +08:00). Items are sparse in this 815-user slice, hence items >= 2.
    "taobao-userbehavior": CleanConfig(
        time_window=TimeWindow(start=datetime(2017, 11, 25, tzinfo=_CST), end=datetime(2017, 12, 4, tzinfo=_CST)),
        k_core=KCore(min_user=5, min_item=2),
    ),
    # The S3-Rec file is already 5-core; keep it exactly as published (literature-comparable counts).
    "amazon-beauty": CleanConfig(
        duplicates=Duplicates(enabled=False),
        repeats=Repeats(action="keep"),
        k_core=KCore(min_user=1, min_item=1),
    ),
    "movielens-latest-small": CleanConfig(k_core=KCore(min_user=5, min_item=5)),
}


def preset(name: str) -> CleanConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown cleaning preset {name!r}; known presets: {sorted(PRESETS)}") from None


def preset_for(source: str | None) -> CleanConfig:
    """The preset named after a dataset source, else the generic default."""
    return PRESETS.get(source or "", PRESETS["default"])

"""Exposure records: one row per shown item with its propensity and the policy that chose it, the raw
material of off-policy evaluation and A/B analysis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pyarrow as pa

from tiderec.types import ItemList

EXPOSURE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("position", pa.int32()),
        ("score", pa.float64()),
        ("propensity", pa.float64()),
        ("explored", pa.bool_()),
        ("policy", pa.string()),
        ("seed", pa.uint64()),
        ("ts_us", pa.int64()),
        ("variant", pa.string()),
    ]
)


@dataclass(frozen=True)
class Exposure:
    """One shown item: where (0-based position), with what probability, chosen by which policy version."""

    request_id: str
    user_id: str
    item_id: str
    position: int
    score: float
    propensity: float
    explored: bool
    policy: str
    seed: int
    ts_us: int
    variant: str = ""


def exposures(
    served: ItemList, item_ids: Sequence[str], request_id: str, user_id: str, ts_us: int, variant: str = ""
) -> list[Exposure]:
    """The exposure rows of one served list; `item_ids` maps item indices to raw ids; `variant`: the user's
    experiment arm, if any."""
    return [
        Exposure(
            request_id=request_id,
            user_id=user_id,
            item_id=item_ids[int(item)],
            position=j,
            score=float(served.scores[j]),
            propensity=float(served.propensities[j]),
            explored=bool(served.explored[j]),
            policy=served.policy,
            seed=served.seed,
            ts_us=ts_us,
            variant=variant,
        )
        for j, item in enumerate(served.items)
    ]


def exposure_table(rows: Sequence[Exposure]) -> pa.Table:
    """Exposure rows as an Arrow table (schema `EXPOSURE_SCHEMA`), ready for Parquet or a database."""
    return pa.Table.from_pylist([asdict(r) for r in rows], schema=EXPOSURE_SCHEMA)

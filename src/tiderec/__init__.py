"""tiderec: Tracking Interest Dynamics in E-commerce.

The Python API mirrors the CLI: `load_dataset` / `read_events` (ingest) -> `clean` -> `describe`,
`Interactions.from_events` -> `leave_one_out` / `temporal_split`.
"""

from tiderec.clean import CleanConfig, CleanResult, Vocabulary, clean, preset
from tiderec.data import Interactions, Split, TemporalConfig, describe, leave_one_out, temporal_split
from tiderec.errors import BadRowError, ConfigError, DatasetError, TiderecError
from tiderec.ingest import (
    Dataset,
    EventMapping,
    ItemMapping,
    ReadOptions,
    load_dataset,
    read_events,
    read_tabular,
)
from tiderec.types import EVENT_TYPES, Events, Items

__all__ = [
    "EVENT_TYPES",
    "BadRowError",
    "CleanConfig",
    "CleanResult",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "EventMapping",
    "Events",
    "Interactions",
    "ItemMapping",
    "Items",
    "ReadOptions",
    "Split",
    "TemporalConfig",
    "TiderecError",
    "Vocabulary",
    "clean",
    "describe",
    "leave_one_out",
    "load_dataset",
    "preset",
    "read_events",
    "read_tabular",
    "temporal_split",
]

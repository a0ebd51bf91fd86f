"""Data: indexed `Interactions`, leak-free splits, dataset statistics."""

from tiderec.data.interactions import Interactions
from tiderec.data.splits import Split, Targets, TemporalConfig, leave_one_out, temporal_split
from tiderec.data.stats import DatasetStats, describe

__all__ = [
    "DatasetStats",
    "Interactions",
    "Split",
    "Targets",
    "TemporalConfig",
    "describe",
    "leave_one_out",
    "temporal_split",
]

"""Clean: missing values, time window, negatives, duplicates, bots, repeats, k-core, sessions, vocabularies."""

from tiderec.clean.config import (
    Bots,
    CleanConfig,
    Duplicates,
    KCore,
    Negatives,
    Repeats,
    Sessions,
    TimeWindow,
)
from tiderec.clean.pipeline import CleanResult, clean
from tiderec.clean.presets import PRESETS, preset
from tiderec.clean.report import CleaningReport, RuleResult
from tiderec.clean.store import read_cleaned, write_cleaned
from tiderec.clean.vocab import Vocabulary

__all__ = [
    "PRESETS",
    "Bots",
    "CleanConfig",
    "CleanResult",
    "CleaningReport",
    "Duplicates",
    "KCore",
    "Negatives",
    "Repeats",
    "RuleResult",
    "Sessions",
    "TimeWindow",
    "Vocabulary",
    "clean",
    "preset",
    "read_cleaned",
    "write_cleaned",
]

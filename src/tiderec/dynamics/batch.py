"""Migration detection for any client: histories.jsonl in (as `tiderec recommend` reads them), one line of
declared changes per user out: {"user_id", "migrations": [{"at_index", "ts", "from", "to", "kind",
"confidence"}]}, where at_index is the position in the given history (unknown items included) of the event at
which the change is declared."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tiderec.clean.vocab import Vocabulary
from tiderec.data.histories import History, ReadReport, read_histories
from tiderec.data.space import InterestSpace
from tiderec.dynamics.migration import Migration, MigrationConfig, detect
from tiderec.dynamics.splice import SpliceDetector
from tiderec.errors import DatasetError


def migrations_of(
    history: History, space: InterestSpace, config: MigrationConfig, learned: SpliceDetector | None = None
) -> list[dict[str, Any]]:
    """The declared changes of one history, as output records (`learned`: the fitted detector when
    config.detector is "learned")."""
    codes = space.codes[history.items]
    return [_record(m, history, space) for m in detect(codes, config, space.vectors, learned)]


def migrations_file(
    input_path: Path,
    output: TextIO,
    space: InterestSpace,
    item_vocab: Vocabulary,
    config: MigrationConfig,
    skip_bad: bool = False,
    learned: SpliceDetector | None = None,
) -> ReadReport:
    """Stream histories from input_path and write one line per user to output."""
    if not input_path.is_file():
        raise DatasetError(f"{input_path}: no such file")
    report = ReadReport()
    for history in read_histories(input_path, item_vocab, report, skip_bad):
        line = {"user_id": history.user_id, "migrations": migrations_of(history, space, config, learned)}
        output.write(json.dumps(line, ensure_ascii=False) + "\n")
    return report


def _record(m: Migration, history: History, space: InterestSpace) -> dict[str, Any]:
    ts = int(history.ts[m.at_index])
    return {
        "at_index": int(history.positions[m.at_index]),
        "ts": datetime.fromtimestamp(ts / 1e6, UTC).isoformat(),
        "from": [{"interest": space.label(c), "share": round(s, 4)} for c, s in m.from_],
        "to": [{"interest": space.label(c), "share": round(s, 4)} for c, s in m.to],
        "kind": m.kind,
        "confidence": m.confidence,
    }

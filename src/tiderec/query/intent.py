"""Intent recognition: a softmax classifier over multilingual sentence vectors, calibrated, with an
'uncertain' outcome below a confidence threshold.

Labels learned from real text: search, compare, review, support, other (see ../shared/data/queries). `browse`
(vague exploration) has no labelled source; a searched text with exploration cues and no concrete product is
called browse by rule (`BROWSE_CUES`), unmeasured.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiderec.errors import BadRow, DatasetError
from tiderec.query.softmax import SoftmaxClassifier
from tiderec.text.encoders.base import TextEncoder

INTENTS = ("search", "browse", "compare", "review", "support", "other")
UNCERTAIN = "uncertain"
BROWSE_CUES = re.compile(
    r"(随便看看|逛逛|有什么好|推荐点|推荐一些|有啥好|gift ideas?|ideas for|something (nice|for)|just looking|"
    r"what'?s (new|popular|trending)|recommend (me )?something|browse)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LabelledText:
    text: str
    lang: str
    intent: str
    source: str


def read_intents(path: Path) -> list[LabelledText]:
    """JSON Lines with text, lang, intent (one of INTENTS) and source; a bad line is an error naming it."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    rows: list[LabelledText] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                row = LabelledText(str(obj["text"]), str(obj.get("lang", "und")), str(obj["intent"]),
                                   str(obj.get("source", "")))  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                bad = BadRow(str(path), number, None, "bad line", "a JSON object with text and intent", str(exc))
                raise DatasetError(bad.describe()) from None
            if row.intent not in INTENTS:
                bad = BadRow(str(path), number, "intent", "unknown intent", f"one of {INTENTS}", row.intent)
                raise DatasetError(bad.describe())
            rows.append(row)
    return rows


@dataclass(frozen=True)
class Intent:
    """The decided label (an intent or 'uncertain'), its calibrated confidence, and every class's probability."""

    label: str
    confidence: float
    probabilities: dict[str, float]


class IntentModel:
    """Encoder + calibrated classifier; texts that are empty or carry no letters are 'other' outright."""

    def __init__(self, encoder: TextEncoder, classifier: SoftmaxClassifier, threshold: float = 0.5) -> None:
        self.encoder, self.classifier, self.threshold = encoder, classifier, threshold

    def predict(self, texts: list[str]) -> list[Intent]:
        usable = [i for i, t in enumerate(texts) if _has_words(t)]
        out = [Intent("other", 1.0, {"other": 1.0}) for _ in texts]
        if not usable:
            return out
        vectors = self.encoder.encode_queries([texts[i][:2000] for i in usable])
        probs = self.classifier.probabilities(vectors)
        for row, i in enumerate(usable):
            best = int(np.argmax(probs[row]))
            label, confidence = self.classifier.classes[best], float(probs[row, best])
            if label == "search" and BROWSE_CUES.search(texts[i]):
                label = "browse"
            if confidence < self.threshold:
                label = UNCERTAIN
            out[i] = Intent(
                label, confidence, dict(zip(self.classifier.classes, probs[row].round(4).tolist(), strict=True))
            )
        return out


def _has_words(text: str) -> bool:
    return bool(re.search(r"[^\W\d_]", text or ""))

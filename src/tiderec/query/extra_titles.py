"""More training titles from a second annotated source: the e-commerce title NER of Ding et al. (ACL 2019, in
ecommerce-ner-dicts/train.txt.bieos; Taobao titles tagged BIEOS with HP brand and HC product word only). Read as
partially labelled sentences: brands and product words as marked, an O possibly a model or another attribute
(types that source does not tag) where one is plausible (ner.hidden_plausible). Why: over half of the brands in
held-out titles are in neither the training titles nor the brand word lists, so the tagger has to learn brands from
context, and this source more than doubles the brand examples it learns from."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tiderec.query.ner import Sentence, read_tagged
from tiderec.query.ner_splits import title, unique_titles

BIEOS_TYPES = {"HP": "HPPX", "HC": "HCCX"}
"""Ding et al.'s entity types -> the Taobao title NER types."""
UNLABELLED = ("XH", "MISC")
"""Taobao title NER types that the BIEOS source does not tag."""


def read_bieos(
    path: Path, types: dict[str, str] = BIEOS_TYPES, unlabelled: tuple[str, ...] = UNLABELLED
) -> list[Sentence]:
    """'char<TAB>TAG' per line (B-, I-, E-, S- or O; a blank line between titles) -> BIO sentences in Taobao types
    (B and S -> B-, I and E -> I-), each saying which types it leaves unlabelled; a bad line is an error naming it."""

    def parse(line: str) -> tuple[str, str] | None:
        char, sep, tag = line.rpartition("\t")
        kind = types.get(tag[2:]) if tag[:2] in ("B-", "I-", "E-", "S-") else None
        if not sep or (tag != "O" and kind is None):
            return None
        return char, "O" if kind is None else ("B-" if tag[0] in "BS" else "I-") + kind

    return read_tagged(path, parse, "'char<TAB>TAG'", unlabelled)


def extra_titles(sentences: list[Sentence], known: Iterable[Sentence]) -> list[Sentence]:
    """The distinct titles of `sentences` that are not titles of `known` (the main training, validation and dev
    titles: a title already annotated keeps its full annotation, and no held-out title leaks into training)."""
    taken = {title(s) for s in known}
    return [s for s in unique_titles(sentences) if title(s) not in taken]

"""Tagger spans made fit for query text: the tagger learnt on Taobao titles, where Latin words sit between Chinese
ones without spaces and no sentence frames the product. In a query it splits Latin words ("Air", "M", "ax"), runs a
brand into the verb before it ("我想买 Nike") and keeps particles at a span's edge ("的鞋"). These rules undo that."""

from __future__ import annotations

import re

from tiderec.query.entities import Entity

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'+.-]*")
SCRIPT_GAP = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])\s+(?=[\u4e00-\u9fff])")
PUNCT = " ,.!?;:，。！？；：、()（）[]【】\"'“”‘’_/|~*#@&="
LEAD = PUNCT + "的了把买要想"
TRAIL = PUNCT + "的了"
NOT_ENTITY = frozenset("我你他她它想买要找给帮请有没不一二两个件双台只款些点的") | frozenset(
    {"还是", "帮我找", "什么", "有没有", "我想买", "我要", "想要", "多少钱", "哪个"}
)
"""Characters and words a trimmed span may end as that are never an entity of a shopper query; a span made of these
characters alone is none either ("我想", "找一台", "不想要": the tagger, trained on titles, reads such a sentence
frame as a brand or attribute)."""
MODEL_AFTER = re.compile(r"\s+([A-Za-z0-9][A-Za-z0-9+-]*(?:\s+[A-Za-z0-9][A-Za-z0-9+-]*){0,3})")


def tidy(text: str, spans: list[Entity]) -> list[Entity]:
    """Spans cut at a space between scripts, trimmed of edge particles, widened to whole Latin words, merged when
    they then coincide, and the Latin words with a digit that follow a brand read as its model ("Nike Air Max 270")."""
    pieces: list[Entity] = []
    for e in spans:
        cut = _cut(text, e)
        latin = [p for p in cut if not CJK.search(p.text)]
        keep = cut if len(cut) == 1 else (latin if e.type in ("brand", "model") else [p for p in cut if p not in latin])
        for piece in keep or cut:
            widened = _widen(text, piece)
            if widened is not None and widened.text not in NOT_ENTITY and not set(widened.text) <= NOT_ENTITY:
                pieces.append(widened)
    merged: list[Entity] = []
    for e in sorted(pieces, key=lambda e: (e.start, -e.end)):
        if merged and e.start < merged[-1].end:
            continue
        merged.append(e)
    return _models_after_brands(text, merged)


def _cut(text: str, e: Entity) -> list[Entity]:
    """The parts of a span on either side of a space between Chinese and Latin script."""
    out: list[Entity] = []
    at = e.start
    for gap in [*SCRIPT_GAP.finditer(text, e.start, e.end), None]:
        end = e.end if gap is None else gap.start()
        if end > at:
            out.append(Entity(text[at:end], e.type, at, end))
        if gap is not None:
            at = gap.end()
    return out


def _widen(text: str, e: Entity) -> Entity | None:
    """The span trimmed of punctuation and particles (LEAD, TRAIL; a one-character span keeps its character), then
    widened to the whole Latin word or number it cuts."""
    start, end = e.start, e.end
    while start < end and text[start] in LEAD and end - start > 1:
        start += 1
    while end > start and text[end - 1] in TRAIL and end - start > 1:
        end -= 1
    if start >= end or not text[start:end].strip(PUNCT):
        return None
    while start > 0 and _same_class(text[start - 1], text[start]):
        start -= 1
    while end < len(text) and _same_class(text[end - 1], text[end]):
        end += 1
    return Entity(text[start:end], e.type, start, end)


def _same_class(a: str, b: str) -> bool:
    """Both Latin letters, or both digits: one word the tagger must not split."""
    return (a.isascii() and b.isascii()) and ((a.isalpha() and b.isalpha()) or (a.isdigit() and b.isdigit()))


def _models_after_brands(text: str, spans: list[Entity]) -> list[Entity]:
    """After each brand and a space, its run of Latin words and numbers (up to four, one with a digit) becomes one
    model span, replacing the pieces the tagger made of it (without the space, as in titles, the tagger decides)."""
    out = list(spans)
    for brand in [e for e in spans if e.type == "brand"]:
        if brand not in out:
            continue
        match = MODEL_AFTER.match(text, brand.end)
        if match is None or not re.search(r"\d", match.group(1)):
            continue
        a, b = match.start(1), match.end(1)
        out = [e for e in out if e.end <= a or e.start >= b]
        out.append(Entity(text[a:b], "model", a, b))
    return sorted(out, key=lambda e: e.start)

"""Interest extraction by lexicon: product words and brands from a catalogue's own vocabulary (category path
elements, brand names), attribute words (colours, materials, audiences) in Chinese and English, and model
numbers by pattern. Longest match first, no overlaps, character offsets into the text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tiderec.types import Items

ATTRIBUTE_WORDS = (
    "red blue green black white grey gray pink yellow purple brown beige navy gold silver orange "
    "leather cotton wool silk linen denim velvet plastic wooden wood metal steel glass ceramic bamboo "
    "waterproof wireless portable vintage men's women's kids unisex "
    "红色 蓝色 绿色 黑色 白色 灰色 粉色 黄色 紫色 棕色 米色 金色 银色 橙色 "
    "真皮 纯棉 羊毛 真丝 亚麻 牛仔 丝绒 塑料 实木 金属 不锈钢 玻璃 陶瓷 "
    "防水 无线 便携 复古 男士 女士 男款 女款 中性 大码 透气 轻便"
)
"""Words that are attributes wherever they stand. Single characters (红, 皮, 棉, 男, 女) are not among them: inside a
title they are as often part of another word (皮线, 女装) as an attribute on their own."""
ATTRIBUTES = tuple(ATTRIBUTE_WORDS.split())
AUDIENCE = re.compile(
    r"(?:(?<=给)|(?<=适合)|(?<=送)|(?<=for ))(?:儿童|宝宝|婴儿|孩子|老人|children|baby|toddlers?)"
    r"|(?:儿童|宝宝|婴儿|孩子|老人)(?=用|穿|款|专用|的)",
    re.IGNORECASE,
)
"""Audience words are attributes only with the context that makes them one ("给宝宝", "儿童用", "for baby"); bare,
they are as often part of a product word (儿童座椅, baby monitor)."""
MODEL = re.compile(
    r"\b(?:[A-Za-z]{1,6}[- ]?\d{1,5}[A-Za-z]{0,3}|\d{1,4}[A-Za-z]{1,3}\d{0,3})\b(?!\s*(?:gb|tb|元|块|dollars?))",
    re.IGNORECASE,
)


NOT_MODEL_PREFIX = frozenset(
    {"under", "over", "below", "above", "about", "around", "size", "top", "for", "with", "to", "up", "at", "than"}
    | {"and", "or", "the", "set", "of", "pack", "only", "pcs", "x", "no", "not", "from", "in", "on", "by", "is"}
)


@dataclass(frozen=True)
class Entity:
    text: str
    type: str
    start: int
    end: int


@dataclass(frozen=True)
class Lexicon:
    """Surface form (lower case) -> entity type: 'product', 'brand' or 'attribute'."""

    terms: dict[str, str]

    @classmethod
    def of(cls, items: Items | None = None, extra: dict[str, str] | None = None) -> Lexicon:
        terms = {w.lower(): "attribute" for w in ATTRIBUTES}
        if items is not None and items.frame.height:
            for path in items.frame["category"].drop_nulls().to_list():
                for name in path:
                    if name and len(name) >= 2:
                        terms.setdefault(name.lower(), "product")
            for brand in items.frame["brand"].drop_nulls().unique().to_list():
                if brand and len(brand) >= 2:
                    terms[brand.lower()] = "brand"
        terms.update({k.lower(): v for k, v in (extra or {}).items()})
        return cls(terms)

    def find(self, text: str) -> list[Entity]:
        """Lexicon terms (longest first; Latin terms on word boundaries) and model numbers, without overlaps."""
        lower = text.lower()
        taken = [False] * len(text)
        found: list[Entity] = []
        for term in sorted(self.terms, key=len, reverse=True):
            start = lower.find(term)
            while start >= 0:
                end = start + len(term)
                latin = term.isascii()
                bounded = not latin or (
                    (start == 0 or not lower[start - 1].isalnum()) and (end == len(lower) or not lower[end].isalnum())
                )
                if bounded and not any(taken[start:end]):
                    found.append(Entity(text[start:end], self.terms[term], start, end))
                    taken[start:end] = [True] * (end - start)
                start = lower.find(term, start + 1)
        for match in AUDIENCE.finditer(text):
            if not any(taken[match.start() : match.end()]):
                found.append(Entity(match.group(0), "attribute", match.start(), match.end()))
                taken[match.start() : match.end()] = [True] * (match.end() - match.start())
        for match in MODEL.finditer(text):
            prefix = re.match(r"[A-Za-z]+", match.group(0))
            if prefix is not None and prefix.group(0).lower() in NOT_MODEL_PREFIX:
                continue
            if not any(taken[match.start() : match.end()]) and any(c.isdigit() for c in match.group(0)):
                found.append(Entity(match.group(0), "model", match.start(), match.end()))
        return sorted(found, key=lambda e: e.start)

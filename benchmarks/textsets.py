"""Real text sets from ../shared/data for the encoder benchmark: Chinese titles, retrieval tasks with labels."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import polars as pl

ZH = "text-zh"


@dataclass(frozen=True)
class RetrievalTask:
    """Queries, documents, for each query the set of relevant document rows, and optionally a document row
    to leave out of its ranking (the query item itself in item-to-item tasks)."""

    name: str
    queries: list[str]
    docs: list[str]
    relevant: list[set[int]]
    exclude: list[int] | None = None


def product1m(root: Path) -> tuple[list[str], list[list[str]]]:
    """Distinct Product1M titles (test + dev) and the 'BRAND product' labels of each."""
    labels: dict[str, set[str]] = {}
    for name in ("product1m_test_ossurl_v2.txt", "product1m_dev_ossurl_v2.txt"):
        for line in (root / ZH / "product1m-titles" / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("#####")
            if len(parts) < 5 or not parts[1].strip():
                continue
            found = labels.setdefault(parts[1].strip(), set())
            found.update(label.strip() for label in parts[4].split("#;#") if label.strip())
    titles = list(labels)
    return titles, [sorted(labels[t]) for t in titles]


def taobao_ner_titles(root: Path) -> list[str]:
    """Titles rebuilt from the character-per-line Taobao title NER files (blank line between titles)."""
    titles = []
    for name in ("train.txt", "dev.txt"):
        chars: list[str] = []
        for line in (root / ZH / "taobao-title-ner" / name).read_text(encoding="utf-8").splitlines():
            line = line.rstrip("\r")
            if not line.strip():
                if chars:
                    titles.append(re.sub(r"\s+", " ", "".join(chars)).strip())
                chars = []
                continue
            char, _, _tag = line.rpartition(" ")
            chars.append(char or " ")
        if chars:
            titles.append(re.sub(r"\s+", " ", "".join(chars)).strip())
    return [t for t in titles if t]


def chinese_titles(root: Path, n: int = 10_000) -> tuple[list[str], int]:
    """n distinct Chinese titles: all Product1M titles first, then Taobao NER titles; and how many from P1M."""
    titles, _ = product1m(root)
    seen = dict.fromkeys(titles)
    for title in taobao_ner_titles(root):
        if len(seen) >= n:
            break
        seen.setdefault(title)
    return list(seen)[:n], len(titles)


def multi_cpr(root: Path) -> RetrievalTask:
    """EcomInstruct Multi-CPR query-item matching: each query's matching item among all items of the file."""
    queries: dict[str, int] = {}
    docs: dict[str, int] = {}
    relevant: dict[int, set[int]] = defaultdict(set)
    path = root / ZH / "ecominstruct" / "ZH-Multi_CPR-CLS-query_item_matching__test.json"
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        match = re.match(r"Query: (.*)\nDoc: (.*)", row["sentences"], re.S)
        if match is None:
            continue
        q = queries.setdefault(match.group(1).strip(), len(queries))
        d = docs.setdefault(match.group(2).strip(), len(docs))
        if row["labels"]["en"] == ["match"]:
            relevant[q].add(d)
    kept = [q for q in range(len(queries)) if relevant[q]]
    names = list(queries)
    return RetrievalTask(
        "Multi-CPR query->item (zh)", [names[q] for q in kept], list(docs), [relevant[q] for q in kept]
    )


def product1m_tasks(root: Path) -> list[RetrievalTask]:
    """Product1M: query a 'BRAND product' label (or a brand) -> titles carrying it."""
    titles, labels = product1m(root)
    by_label: dict[str, set[int]] = defaultdict(set)
    by_brand: dict[str, set[int]] = defaultdict(set)
    for row, found in enumerate(labels):
        for label in found:
            by_label[label].add(row)
            by_brand[label.split(" ")[0]].add(row)
    return [
        RetrievalTask("Product1M label->titles (zh)", list(by_label), titles, list(by_label.values())),
        RetrievalTask("Product1M brand->titles (zh)", list(by_brand), titles, list(by_brand.values())),
    ]


def lenovo_entities(root: Path) -> RetrievalTask:
    """EcomInstruct English Lenovo NER: query a product or brand name -> sentences that mention it."""
    sentences: list[str] = []
    relevant: dict[str, set[int]] = defaultdict(set)
    path = root / ZH / "ecominstruct" / "EN-Lenovo-NER-NER__test.json"
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        sentences.append(row["sentences"])
        for span in row["spans"]:
            if span["type"] in ("Product", "Brand"):
                relevant[span["term"].strip().lower()].add(len(sentences) - 1)
    return RetrievalTask("Lenovo product/brand->sentences (en)", list(relevant), sentences, list(relevant.values()))


def co_purchase(root: Path, titles: dict[str, str], min_baskets: int = 30, top: int = 10) -> RetrievalTask:
    """Online Retail: an item's title -> the titles of the items most often bought in the same invoice.

    A behavioural relevance signal in English: does text similarity find what is bought together?
    """
    frame = pl.read_csv(
        root / "online-retail/onlineretail.csv.gz", infer_schema=False, columns=["InvoiceNo", "StockCode"]
    )
    baskets = frame.filter(~pl.col("InvoiceNo").str.starts_with("C")).unique()
    baskets = baskets.filter(pl.col("StockCode").is_in(list(titles)))
    counts = baskets.group_by("StockCode").len()
    popular = counts.filter(pl.col("len") >= min_baskets)["StockCode"]
    pairs = (
        baskets.filter(pl.col("StockCode").is_in(popular.implode()))
        .join(baskets, on="InvoiceNo", suffix="_other")
        .filter(pl.col("StockCode") != pl.col("StockCode_other"))
        .group_by("StockCode", "StockCode_other")
        .len()
        .sort(["StockCode", "len", "StockCode_other"], descending=[False, True, False])
        .group_by("StockCode", maintain_order=True)
        .head(top)
    )
    docs = list(titles)
    row = {item: k for k, item in enumerate(docs)}
    grouped = pairs.group_by("StockCode", maintain_order=True).agg("StockCode_other")
    queries = [titles[item] for item in grouped["StockCode"]]
    relevant = [{row[o] for o in others} for others in grouped["StockCode_other"].to_list()]
    exclude = [row[item] for item in grouped["StockCode"]]
    name = "Online Retail title->co-purchased titles (en)"
    return RetrievalTask(name, queries, [titles[d] for d in docs], relevant, exclude)

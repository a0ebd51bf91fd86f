"""Growing a dataset k times: exact copies of the behaviour, renamed ids, recombined titles, the CLI."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tests.conftest import events
from tiderec.cli.main import cli
from tiderec.errors import ConfigError, DatasetError
from tiderec.ingest.datasets import load_dataset
from tiderec.ingest.grow import GrowConfig, grow
from tiderec.ingest.report import IngestReport
from tiderec.ingest.store import read_dataset, write_dataset
from tiderec.ingest.tabular import Dataset
from tiderec.types import Items

TITLES = {
    "i0": ("WHITE HANGING HEART T-LIGHT HOLDER", ["home", "light"]),
    "i1": ("CREAM CUPID HEARTS COAT HANGER", ["home", "hooks"]),
    "i2": ("KNITTED UNION FLAG HOT WATER BOTTLE", ["home", "light"]),
    "i3": ("RED WOOLLY HOTTIE WHITE HEART", ["home", "light"]),
    "i4": ("SET OF 3 CAKE TINS PANTRY DESIGN", ["kitchen"]),
    "i5": ("PACK OF 72 RETROSPOT CAKE CASES", ["kitchen"]),
    "i6": ("JUMBO BAG RED RETROSPOT", None),
    "i7": (None, ["kitchen"]),
    "i8": ("LUNCH BAG BLACK SKULL", ["kitchen"]),
    "i9": ("REGENCY CAKESTAND 3 TIER", ["kitchen"]),
}


def ceil_half(n: int) -> int:
    return (n + 1) // 2


def strip_copy(frame: pl.DataFrame, r: int, columns: tuple[str, ...]) -> pl.DataFrame:
    """The rows of copy r with their ids mapped back to the original ids."""
    return frame.with_columns(pl.col(c).str.strip_suffix(f"~{r}") for c in columns)


def catalogue(titles: dict[str, tuple[str | None, list[str] | None]]) -> Items:
    rows = [
        {
            "item_id": item,
            "title": title,
            "category": category,
            "brand": f"brand-{item}",
            "price": float(n),
            "language": "en",
            "attributes": [f"a{n}"],
        }
        for n, (item, (title, category)) in enumerate(titles.items())
    ]
    return Items.from_frame(pl.DataFrame(rows), {"source": "test"})


@pytest.fixture
def world() -> Dataset:
    rows = [
        (f"u{u}", f"i{(u * 3 + k) % 10}", u * 10 + k, "view" if k % 2 else "purchase", f"b{u}-{k // 2}", float(k))
        for u in range(6)
        for k in range(5 + u)
    ]
    log = events(rows, ("user_id", "item_id", "ts", "event_type", "basket_id", "value"))
    log = log.with_frame(log.frame.sort("ts"))
    report = IngestReport(("log.csv",), rows_read=len(log) + 1, rows_kept=len(log), notes=("read",))
    return Dataset(log, catalogue(TITLES), report)


def test_factor_3_triples_users_items_and_events(world: Dataset) -> None:
    grown = grow(world, GrowConfig(factor=3))
    frame, items = grown.events.frame, grown.items.frame
    assert len(grown.events) == 3 * len(world.events)
    assert frame["user_id"].n_unique() == 3 * world.events.frame["user_id"].n_unique()
    assert frame["item_id"].n_unique() == 3 * world.events.frame["item_id"].n_unique()
    assert frame["basket_id"].n_unique() == 3 * world.events.frame["basket_id"].n_unique()
    assert len(grown.items) == 3 * len(world.items)
    for r in (1, 2):
        assert items.filter(pl.col("item_id").str.ends_with(f"~{r}")).height == len(world.items)
    assert grown.events.meta == {"grown": "3", "grown_seed": "0"}
    assert grown.items.meta["source"] == "test"
    assert grown.items.meta["grown"] == "3"


def test_copy_0_is_the_input_and_every_copy_replays_it_with_mapped_ids(world: Dataset) -> None:
    grown = grow(world, GrowConfig(factor=3))
    frame = grown.events.frame
    original = world.events.frame
    assert frame.filter(~pl.col("user_id").str.contains("~")).equals(original)
    assert grown.items.frame.head(len(world.items)).equals(world.items.frame)
    ids = ("user_id", "item_id", "basket_id")
    for r in (1, 2):
        copy = frame.filter(pl.col("user_id").str.ends_with(f"~{r}"))
        assert copy["item_id"].str.ends_with(f"~{r}").all()
        assert copy["basket_id"].str.ends_with(f"~{r}").all()
        assert strip_copy(copy, r, ids).equals(original)
        for user, seq in original.group_by("user_id", maintain_order=True):
            mine = copy.filter(pl.col("user_id") == f"{user[0]}~{r}")
            assert mine["item_id"].to_list() == [f"{i}~{r}" for i in seq["item_id"]]
            assert mine["ts"].equals(seq["ts"])


def test_events_stay_in_time_order(world: Dataset) -> None:
    frame = grow(world, GrowConfig(factor=4)).events.frame
    assert frame["ts"].is_sorted()
    assert frame["user_id"].head(4).to_list() == ["u0", "u0~1", "u0~2", "u0~3"]


def test_copies_keep_every_catalogue_field_but_the_title(world: Dataset) -> None:
    items = grow(world, GrowConfig(factor=3)).items.frame
    rest = [c for c in items.columns if c != "title"]
    for r in (1, 2):
        copy = strip_copy(items.filter(pl.col("item_id").str.ends_with(f"~{r}")), r, ("item_id",))
        assert copy.select(rest).equals(world.items.frame.select(rest))


def test_titles_are_own_first_half_plus_a_same_category_donors_second_half(world: Dataset) -> None:
    items = grow(world, GrowConfig(factor=6, seed=3)).items.frame
    changed = total = 0
    for row in items.filter(pl.col("item_id").str.contains("~")).iter_rows(named=True):
        item = row["item_id"].split("~")[0]
        own, category = TITLES[item]
        if own is None:
            assert row["title"] is None
            continue
        total += 1
        changed += row["title"] != own
        words, got = own.split(), row["title"].split()
        head = ceil_half(len(words))
        assert got[:head] == words[:head]
        tail = got[head:]
        others = {i: c for i, (t, c) in TITLES.items() if i != item and t is not None}
        kin = [i for i, c in others.items() if category is not None and c == category]
        donors = [str(TITLES[i][0]).split() for i in kin or others]
        assert tail in [d[len(d) - ceil_half(len(d)) :] for d in donors], (item, row["title"])
    assert total == 45
    assert changed >= 0.8 * total


def test_an_item_alone_in_its_category_draws_from_the_whole_catalogue(world: Dataset) -> None:
    items = grow(world, GrowConfig(factor=40)).items.frame
    drawn = {" ".join(t.split()[3:]) for t in items.filter(pl.col("item_id").str.starts_with("i1~"))["title"]}
    tails = {i: " ".join(t.split()[len(t.split()) // 2 :]) for i, (t, _) in TITLES.items() if t is not None}
    assert drawn <= {tail for i, tail in tails.items() if i != "i1"}
    assert drawn & {tails["i0"], tails["i2"], tails["i3"]}
    assert drawn & {tails["i4"], tails["i5"], tails["i8"], tails["i9"]}


def test_same_seed_same_titles_other_seed_other_titles(world: Dataset) -> None:
    first = grow(world, GrowConfig(factor=5, seed=7))
    again = grow(world, GrowConfig(factor=5, seed=7))
    other = grow(world, GrowConfig(factor=5, seed=8))
    assert first.items.frame.equals(again.items.frame)
    assert first.events.frame.equals(again.events.frame)
    assert not first.items.frame["title"].equals(other.items.frame["title"])
    assert first.events.frame.equals(other.events.frame)


def test_chinese_titles_split_by_characters() -> None:
    titles: dict[str, tuple[str | None, list[str] | None]] = {
        "a": ("红色连衣裙夏季新款", ["服装"]),
        "b": ("纯棉短袖T恤男士宽松", ["服装"]),
        "c": ("碎花半身裙中长款", ["服装"]),
    }
    ds = Dataset(events([("u", "a", 0), ("u", "b", 1), ("u", "c", 2)]), catalogue(titles), IngestReport((), 3, 3))
    items = grow(ds, GrowConfig(factor=4)).items.frame.filter(pl.col("item_id").str.contains("~"))
    for item, title in zip(items["item_id"], items["title"], strict=True):
        own = titles[item.split("~")[0]][0]
        assert own is not None
        head = ceil_half(len(own))
        assert " " not in title
        assert title[:head] == own[:head]
        assert title != own
        tails = [t[len(t) - ceil_half(len(t)) :] for t, _ in titles.values() if t is not None and t != own]
        assert title[head:] in tails


def test_descriptions_are_recombined_like_titles(world: Dataset) -> None:
    described = world.items.frame.with_columns(
        description=pl.when(pl.col("item_id") != "i9").then(
            pl.concat_str(pl.lit("long text about"), "item_id", separator=" ")
        )
    )
    ds = Dataset(world.events, Items(described, world.items.meta), world.report)
    copy = grow(ds, GrowConfig(factor=2)).items.frame.filter(pl.col("item_id").str.ends_with("~1"))
    assert copy.filter(pl.col("item_id") == "i9~1")["description"].to_list() == [None]
    rest = copy.filter(pl.col("item_id") != "i9~1")
    for item, text in zip(rest["item_id"], rest["description"], strict=True):
        own = item.removesuffix("~1")
        assert text.startswith("long text about i")
        assert text.split()[-1] != own


def test_report_is_the_input_report_with_a_note(world: Dataset) -> None:
    report = grow(world, GrowConfig(factor=3)).report
    assert (report.sources, report.rows_read, report.rows_kept) == (
        world.report.sources,
        world.report.rows_read,
        world.report.rows_kept,
    )
    assert report.notes[0] == "read"
    assert report.notes[1].startswith("grown 3x")
    assert f"events {len(world.events)} -> {3 * len(world.events)}" in report.notes[1]


@pytest.mark.parametrize("factor", [0, -2])
def test_factor_below_one_is_a_config_error(factor: int) -> None:
    with pytest.raises(ConfigError, match=r"factor must be an integer >= 1"):
        GrowConfig(factor=factor)


def test_factor_1_is_the_input(world: Dataset) -> None:
    grown = grow(world, GrowConfig(factor=1, seed=5))
    assert grown.events.frame.equals(world.events.frame)
    assert grown.items.frame.equals(world.items.frame)
    assert grown.report == world.report


def test_growing_a_grown_dataset_is_refused(world: Dataset) -> None:
    grown = grow(world, GrowConfig(factor=2))
    with pytest.raises(DatasetError, match=r"already holds 'u\d~1' beside 'u\d'"):
        grow(grown, GrowConfig(factor=2))


def test_cli_round_trip(world: Dataset, tmp_path: Path) -> None:
    write_dataset(world, tmp_path / "in")
    result = CliRunner().invoke(
        cli, ["grow", str(tmp_path / "in"), "--factor", "3", "--out", str(tmp_path / "out"), "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert "users 6 -> 18, items 10 -> 30, events 45 -> 135" in lines[0]
    back = read_dataset(tmp_path / "out")
    expected = grow(world, GrowConfig(factor=3, seed=2))
    assert back.events.frame.equals(expected.events.frame)
    assert back.items.frame.equals(expected.items.frame)
    assert back.events.meta["grown"] == "3"
    assert back.report.notes == expected.report.notes


def test_cli_factor_0_is_a_one_line_error(world: Dataset, tmp_path: Path) -> None:
    write_dataset(world, tmp_path / "in")
    result = CliRunner().invoke(cli, ["grow", str(tmp_path / "in"), "-k", "0", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: grow: factor must be an integer >= 1")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_online_retail_5core_grown_twice(data_root: Path) -> None:
    ds = load_dataset("online-retail-5core")
    grown = grow(ds, GrowConfig(factor=2))
    assert (len(ds.events), len(ds.items)) == (385_891, 3_184)
    assert len(grown.events) == 2 * 385_891
    assert len(grown.items) == 2 * 3_184
    assert grown.events.frame["user_id"].n_unique() == 2 * 4_100
    assert grown.events.frame["item_id"].n_unique() == 2 * 3_184
    titles = grown.items.frame["title"]
    assert titles.null_count() == 0
    assert (titles.tail(3_184) != titles.head(3_184)).sum() > 0.9 * 3_184

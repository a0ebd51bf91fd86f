"""Load on `tiderec serve` with wrk (Debian package; installed when missing), on 127.0.0.1 only, bounded in time:
recommendations p50/p99 at 1, 16 and 64 connections, committed event ingest rate, and how long an event takes
to change the user's next recommendations. Server and load generator share this machine's cores.

Usage:
  .venv/bin/python -m benchmarks.bench_serve [--seconds 10] [--big-factor 32] [--workers 1,2]

The per-key rate limit is lifted for the load (it answers 429 beyond 200 requests/s by default).
Catalogues: Online Retail (raw table, cleaned; MiniLM vectors; the interest model trained 3 epochs, so every
event runs the model's forward) and a 100k-item catalogue: Online Retail 5-core grown 32x with `tiderec grow`
(k disjoint worlds; titles recombined from real titles), USE vectors, an interest model trained briefly with its
co-occurrence term on. Every list is the model's full score (state, repeat and co-occurrence terms) over the
index's candidates.
Writes benchmarks/results/serve.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from safetensors import safe_open

from benchmarks.bench_models import RESULTS, RUNS, ensure_data, git_commit
from tiderec.clean.pipeline import clean
from tiderec.clean.presets import preset_for
from tiderec.clean.store import read_cleaned, write_cleaned
from tiderec.ingest.datasets import load_dataset
from tiderec.ingest.grow import GrowConfig, grow
from tiderec.ingest.mapping import ReadOptions
from tiderec.models.interest import InterestModel
from tiderec.models.itemknn import cooccurrence_similarity
from tiderec.models.scorer import TorchScorer
from tiderec.ranking.retrieval import IndexConfig, ItemIndex
from tiderec.serving.service import limit_threads
from tiderec.testing.server import TIDEREC, free_port, start_server
from tiderec.text.encode import encode_items
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.store import read_vectors, write_vectors
from tiderec.train.auto import settle
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import Trained, interest_codes, prepare, save_trained, train_model
from tiderec.train.loop import fit
from tiderec.train.registry import build_model, model_config

ROOT = RUNS / "serve"
NOTES = (
    "Serving path: `async` handlers for events, recommendations and interests (no thread-pool hop), a pure ASGI "
    "guard, cached key table, one math thread (`tiderec serve --threads 1`), asyncio loop with the httptools parser "
    "(uvloop starved some connections); every list is the model's own score (`SequenceModel.scores`: state, repeat, "
    "co-occurrence and new-interest shift terms, what `tiderec evaluate` ranks with) over every item while the "
    "model's table holds fewer than `IndexConfig.scan_below` numbers (items x dimensions: both catalogues here), "
    "above that over candidates from `ItemIndex` (a faiss HNSW graph over the model's item table, plus every item "
    "the history terms reach); micro-batched requests; with several workers the parent hands each connection to "
    "the next worker; an ingest batch runs the interest model once for all of its users. Each measured run "
    "follows an unmeasured one of `--warmup` seconds at the same concurrency: the first seconds after a change "
    "of load carry a transient (101,888 items, 2 workers, consecutive 10 s runs at 16 connections after one at 1: "
    "p99 23.7 then 18.4 ms; no major page faults in the server)."
)
USERS = 500
RECOMMEND_LUA = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/users/load-" .. math.random(0, %d) .. "/recommendations?k=10")
end
"""
INGEST_LUA = """
local items = {%s}
local n = 0
request = function()
  n = n + 1
  local parts = {}
  for i = 1, %d do
    local user = math.random(0, 4999)
    local item = items[math.random(1, #items)]
    parts[i] = string.format('{"user_id":"w%%d-%%d","item_id":"%%s","ts":%%d,"event_type":"view"}',
      user, n %% 7, item, 1700000000 + n * 1000 + i)
  end
  wrk.body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/v1/events")
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
    return shutil.which("wrk") or "wrk"


def online_retail() -> tuple[Path, Path | None, str]:
    """The Online Retail catalogue with MiniLM vectors and a 3-epoch interest model."""
    cleaned = ensure_data("or", threads=os.cpu_count() or 1)
    model = ROOT / "or-model"
    if not _current(model):
        prepared = prepare(cleaned)
        config = TrainConfig(epochs=3, batch_size=128, warmup_steps=50)
        trained = train_model(prepared, "tiderec", config, progress=False)
        save_trained(model, prepared, trained, {})
    return cleaned, model, "Online Retail (raw, cleaned), MiniLM vectors, interest model (3 epochs)"


def _current(model: Path) -> bool:
    """Whether a saved model folder exists and carries every term of today's full score: a model saved before the
    new-interest shift term has no shift weight among its weights and would serve without it (train.registry), so
    it is trained again."""
    weights = model / "model.safetensors"
    if not weights.is_file():
        return False
    with safe_open(str(weights), framework="pt") as saved:
        return "shift_weight" in set(saved.keys())


def big_catalogue(factor: int) -> tuple[Path, Path | None, str]:
    """Online Retail 5-core grown `factor` times, cleaned, USE vectors, and an interest model whose full score
    (state, repeat and co-occurrence terms) serves it: trained briefly (sampled softmax, 300 steps, validated on
    2,000 users; latency does not depend on how well it ranks), its co-occurrence table filled from the training
    split and the items' interests for the shift term, each term at weight 1."""
    folder = ROOT / f"or5-x{factor}"
    cleaned = folder / "cleaned"
    if not (folder / "vectors" / "manifest.json").is_file():
        ds = grow(load_dataset("online-retail-5core", options=ReadOptions(progress=False)), GrowConfig(factor))
        result = clean(ds.events, ds.items, preset_for("online-retail-5core"), ds.report)
        write_cleaned(result, cleaned)
        encoder = load_encoder(EncoderConfig(name="use", threads=os.cpu_count()))
        store, _ = encode_items(result.items, encoder, progress=False)
        write_vectors(store, folder / "vectors")
    model = folder / "model"
    if not _current(model):
        prepared = prepare(cleaned)
        config = TrainConfig(epochs=1, steps_per_epoch=300, loss="sampled", warmup_steps=50, eval_batch_size=128)
        config = settle(config, prepared.split.train).config  # the model is built before training settles it
        settings = {"neighbours": 100}
        net = build_model("tiderec", prepared.inter.n_items, config.window, model_config("tiderec", settings),
                          prepared.inputs)  # fmt: skip
        started = time.perf_counter()
        valid = prepared.split.valid.take(np.arange(min(2000, len(prepared.split.valid))))  # latency run: a check
        record = fit(net, prepared.split.train, prepared.inter, valid, config, "tiderec (big)")
        assert isinstance(net, InterestModel)
        net.set_neighbours(cooccurrence_similarity(prepared.split.train, neighbours=100))
        net.get_buffer("neighbour_weight").fill_(1.0)
        codes = interest_codes(prepared)
        if codes is not None:
            net.set_interests(codes)
            net.get_buffer("shift_weight").fill_(1.0)
        trained = Trained("tiderec", "tiderec", TorchScorer("tiderec", net), net, record, settings, config,
                          time.perf_counter() - started)  # fmt: skip
        save_trained(model, prepared, trained, {})
    n = len(read_cleaned(cleaned).item_vocab)
    label = f"Online Retail 5-core grown {factor}x: {n:,} items, USE vectors, interest model (300 steps, co-occurrence)"
    return cleaned, model, label


def engine_label(index: ItemIndex) -> str:
    """The candidate engine and its settings, in words."""
    cfg = index.config
    if index.engine == "hnsw":
        width = "full keys" if cfg.hnsw_dim is None else f"keys projected to {cfg.hnsw_dim} dims"
        return f"faiss HNSW over {width} + exact re-score (M {cfg.hnsw_m}, efSearch {cfg.ef_search})"
    if index.engine == "ivf":
        return f"faiss IVF-SQ8 + exact re-score ({index.nlist:,} lists, nprobe {cfg.nprobe})"
    return "exact"


def retrieval(cleaned: Path, users: int = 300, seed: int = 0, config: IndexConfig | None = None) -> dict[str, Any]:
    """The candidate stage alone on the catalogue's real vectors: an index (`config`, else the default) against
    the exact scan, recall of the top 10 and of the 200 candidates, and time per search (one thread).
    Queries are profile vectors (normalised mean of 20 items' vectors) of two kinds: 20 random items (the load's
    users) and real users' last 20 events."""
    limit_threads(1)
    data = read_cleaned(cleaned)
    vectors, _ = read_vectors(cleaned.parent / "vectors").aligned(data.item_vocab.ids)
    exact = ItemIndex(vectors, IndexConfig(scan_below=vectors.size + 1))
    start = time.perf_counter()
    index = ItemIndex(vectors, config)
    build_s = round(time.perf_counter() - start, 1)
    rng = np.random.default_rng(seed)
    position = {item: k for k, item in enumerate(data.item_vocab.ids.to_list())}
    last = (
        data.events.frame.sort("ts").group_by("user_id", maintain_order=True).tail(20)
        .group_by("user_id", maintain_order=True).agg("item_id").sample(users, seed=seed)
    )  # fmt: skip
    kinds: dict[str, list[Any]] = {
        "random 20 items": [rng.integers(0, len(vectors), 20) for _ in range(users)],
        "real users' last 20 events": [[position[i] for i in items] for items in last["item_id"].to_list()],
    }
    out: dict[str, Any] = {
        "engine": engine_label(index),
        "items": len(vectors),
        "queries": users,
        "build_s": build_s,
        "nprobe": index.config.nprobe,
        "nlist": index.nlist,
        "kinds": {},
    }
    queries = {}
    for kind, rows in kinds.items():
        q = np.stack([vectors[r].mean(axis=0) for r in rows])
        queries[kind] = q / np.linalg.norm(q, axis=1, keepdims=True)
    found: dict[tuple[str, str], list[np.ndarray]] = {}
    timing: dict[tuple[str, str], float] = {}
    # Every index search runs before any exact scan: the scans (a whole key matrix each, 208 MB at 101,888 items)
    # slowed the searches that followed them ~1.6x (HNSW 1.07 -> 1.70 ms per search, measured).
    for name, engine in (("index", index), ("exact", exact)):
        for kind, q in queries.items():
            start = time.perf_counter()
            found[name, kind] = [engine.search(one, 200)[0] for one in q]
            timing[name, kind] = round((time.perf_counter() - start) / users * 1000, 3)
    for kind in kinds:
        row = {f"{name}_ms_per_search": timing[name, kind] for name in ("exact", "index")}
        for k in (10, 200):
            pairs = zip(found["exact", kind], found["index", kind], strict=True)
            row[f"recall_at_{k}"] = round(float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in pairs])), 4)
        out["kinds"][kind] = row
    return out


ENGINES: dict[str, tuple[list[str], IndexConfig]] = {
    "hnsw": (["--index", "hnsw"], IndexConfig(engine="hnsw")),
    "hnsw-full": (["--index", "hnsw", "--hnsw-dim", "0"], IndexConfig(engine="hnsw", hnsw_dim=None)),
    "ivf": (["--index", "ivf"], IndexConfig(engine="ivf")),
}
"""--index choices: `tiderec serve` arguments and the same index for the candidate-stage probe."""


def start(
    cleaned: Path, model: Path | None, db: Path, port: int, workers: int, index: str = "hnsw"
) -> subprocess.Popen[bytes]:
    args = ["--data", str(cleaned), "--db", str(db), "--no-query", "--rate-limit", "1000000", "--workers", str(workers)]
    args += ENGINES[index][0]
    if model is not None:
        args += ["--model", str(model)]
    return start_server(args, port, timeout=900)


def wrk(binary: str, url: str, key: str, lua: str, connections: int, seconds: int) -> dict[str, float]:
    """Run wrk; requests/s and in all, p50/p99 latency in ms, and non-2xx answers."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    threads = min(connections, 2)
    args = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name]
    out = subprocess.run([*args, "-H", f"X-API-Key: {key}", url], capture_output=True, text=True, check=True).stdout
    Path(script.name).unlink()

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if match is None:
            raise SystemExit(f"wrk output without {label}%:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    timeouts = re.search(r"timeout (\d+)", out)
    return {
        "requests_per_s": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children alive now (Linux /proc)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    total = 0.0
    for process in [pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def loaded(proc: subprocess.Popen[bytes], run: Callable[[], dict[str, float]]) -> dict[str, Any]:
    """`run()`'s wrk figures plus the server's CPU milliseconds per request over that run (what bounds a core's
    throughput; stable where latencies swing with what else the machine runs)."""
    before = cpu_seconds(proc.pid)
    result: dict[str, Any] = dict(run())
    spent = cpu_seconds(proc.pid) - before
    result["server_cpu_ms_per_request"] = round(spent * 1000 / max(result["requests"], 1), 3)
    return result


def seed(base: str, key: str, item_ids: list[str], rng: np.random.Generator) -> None:
    """Histories of 20 events for the users the recommendation load asks for."""
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        for first in range(0, USERS, 50):
            events = [
                {
                    "user_id": f"load-{u}",
                    "item_id": item_ids[int(i)],
                    "ts": 1_700_000_000 + 600 * k,
                    "event_type": "view",
                }
                for u in range(first, min(first + 50, USERS))
                for k, i in enumerate(rng.integers(0, len(item_ids), 20))
            ]
            client.post("/v1/events", json={"events": events}).raise_for_status()


def visibility(base: str, key: str, item_ids: list[str], trials: int) -> dict[str, float]:
    """Per trial: a fresh user's list, one event on an item, then the next list: time from sending the event to
    receiving the changed list, and how often the list changed."""
    times, changed = [], 0
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
        for t in range(trials):
            user = f"vis-{t}"
            before = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["items"]
            event = {
                "user_id": user,
                "item_id": item_ids[t * 37 % len(item_ids)],
                "ts": 1_800_000_000,
                "event_type": "cart",
            }
            start = time.perf_counter()
            client.post("/v1/events", json={"events": [event]}).raise_for_status()
            after = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["items"]
            times.append((time.perf_counter() - start) * 1000)
            changed += [i["item_id"] for i in before] != [i["item_id"] for i in after]
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p99_ms": round(float(np.percentile(times, 99)), 2),
        "changed_share": changed / trials,
    }


def measure(
    name: str,
    cleaned: Path,
    model: Path | None,
    label: str,
    binary: str,
    seconds: int,
    workers: int,
    index: str,
    warmup: int = 0,
) -> dict[str, Any]:
    item_ids = read_cleaned(cleaned).item_vocab.ids.to_list()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "tiderec.sqlite"
        create = [TIDEREC, "keys", "create", "load", "--scope", "ingest", "--scope", "read", "--db", str(db)]
        key = subprocess.run(create, capture_output=True, text=True, check=True).stdout.strip()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start(cleaned, model, db, port, workers, index)
        try:
            seed(base, key, item_ids, np.random.default_rng(0))
            lists = RECOMMEND_LUA % (USERS - 1)
            recommend = {}
            for c in (1, 16, 64):
                if warmup:
                    wrk(binary, base, key, lists, c, warmup)
                recommend[c] = loaded(proc, partial(wrk, binary, base, key, lists, c, seconds))
            writes = INGEST_LUA % (",".join(json.dumps(i) for i in item_ids[:2000]), 100)
            if warmup:
                wrk(binary, base, key, writes, 4, warmup)
            ingest = loaded(proc, partial(wrk, binary, base, key, writes, 4, seconds))
            ingest["events_per_s"] = round(ingest["requests_per_s"] * 100, 1)
            visible = visibility(base, key, item_ids, 100)
        finally:
            proc.terminate()
            proc.wait(30)
    manifest = {} if model is None else json.loads((model / "manifest.json").read_text())
    dim = int(getattr(model_config(manifest["model"], manifest["model_config"]), "dim", 0)) if manifest else 0
    return {"catalogue": name, "label": label, "items": len(item_ids), "workers": workers, "index": index,
            "model_dim": dim, "recommend": recommend, "ingest_batch_100": ingest,
            "event_to_changed_list": visible}  # fmt: skip


def cell(run: dict[str, Any]) -> str:
    """p50 / p99 ms (requests/s); wrk reports no latencies when every request hit its 2 s timeout."""
    if run["p50_ms"] == 0:
        return f"all over wrk's 2 s timeout ({run['requests_per_s']:,.1f} req/s)"
    cpu = f"; {run['server_cpu_ms_per_request']:.2f} CPU ms" if "server_cpu_ms_per_request" in run else ""
    return f"{run['p50_ms']:.1f} / {run['p99_ms']:.1f} ({run['requests_per_s']:,.0f}{cpu})"


def candidates(run: dict[str, Any]) -> str:
    """The candidate engine of a load run's model (IndexConfig.scans: items x the model's dimensions under
    scan_below are scanned exactly; runs before the model's dimension was recorded: under 20,000 items)."""
    if IndexConfig().scans(run["items"], run["model_dim"]) if "model_dim" in run else run["items"] < 20_000:
        return "exact"
    return str(run.get("index", "ivf"))


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Service under load (wrk, 127.0.0.1)",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}, {report['machine']}; wrk and the server share the cores"
        + (f"; {report['warmup_s']} s of unmeasured load before each run." if report.get("warmup_s") else "."),
        "",
        "| catalogue | items | candidates | workers | recommendations c=1 p50 / p99 ms (req/s; server CPU ms per "
        "request) | c=16 | c=64 "
        "| ingest events/s (batches of 100, 4 conns; p99 ms) | event -> changed list p50 / p99 ms (changed) |",
        "|---|---:|---|---:|---|---|---|---|---|",
    ]
    for r in report["results"]:
        rec = r["recommend"]
        cells = [cell(rec[c]) for c in rec]
        ing, vis = r["ingest_batch_100"], r["event_to_changed_list"]
        lines.append(
            f"| {r['label']} | {r['items']:,} | {candidates(r)} | {r['workers']} | {' | '.join(cells)} "
            f"| {ing['events_per_s']:,.0f} ({ing['p99_ms']:.1f}) "
            f"| {vis['p50_ms']} / {vis['p99_ms']} ({vis['changed_share']:.0%}) |"
        )
    lines += [
        "",
        "Candidate stage alone (real item vectors; queries: the normalised mean vector of 20 items, random ones or a "
        "real user's last 20; one thread):",
        "",
        "| catalogue | items | engine | queries | recall@10 / @200 vs exact | ms per search: exact / index |",
        "|---|---:|---|---|---|---|",
    ]
    for r in report["retrieval"]:
        t = r["retrieval"]
        engine = t["engine"]
        for kind, row in t["kinds"].items():
            lines.append(
                f"| {r['catalogue']} | {t['items']:,} | {engine} | {kind} "
                f"| {row['recall_at_10']} / {row['recall_at_200']} "
                f"| {row['exact_ms_per_search']} / {row['index_ms_per_search']} |"
            )
    lines += ["", NOTES]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured seconds before each measured run")
    parser.add_argument("--big-factor", type=int, default=32)
    parser.add_argument("--workers", default="1,2", help="Worker process counts to measure, comma-separated.")
    engines = ", ".join(ENGINES)
    parser.add_argument("--index", default="hnsw", help=f"Candidate engines for the large catalogue: {engines}.")
    parser.add_argument("--catalogues", default="online-retail,big", help="online-retail, big (comma-separated)")
    parser.add_argument("--tag", default="", help="suffix of the results file names")
    args = parser.parse_args()
    unknown = set(args.index.split(",")) - set(ENGINES)
    if unknown:
        parser.error(f"--index: unknown engine(s) {sorted(unknown)}; expected {list(ENGINES)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    binary = ensure_wrk()
    report: dict[str, Any] = {
        "command": "python -m benchmarks.bench_serve " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "warmup_s": args.warmup,
        "results": [],
        "retrieval": [],
    }
    for key in args.catalogues.split(","):
        cleaned, model, label = online_retail() if key == "online-retail" else big_catalogue(args.big_factor)
        name = key if key != "big" else f"or5-x{args.big_factor}"
        text_dim = read_vectors(cleaned.parent / "vectors").space.dim
        big = not IndexConfig().scans(len(read_cleaned(cleaned).item_vocab), text_dim)  # the text index searches
        for index in args.index.split(",") if big else ["hnsw"]:
            for workers in [int(w) for w in args.workers.split(",")]:
                result = measure(name, cleaned, model, label, binary, args.seconds, workers, index, args.warmup)
                report["results"].append(result)
                print(json.dumps(result), flush=True)
            report["retrieval"].append({"catalogue": name, "retrieval": retrieval(cleaned, config=ENGINES[index][1])})
        (RESULTS / f"serve{args.tag}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (RESULTS / f"serve{args.tag}.md").write_text(markdown(report), encoding="utf-8")
    print(f"-> {RESULTS / f'serve{args.tag}.md'}")


if __name__ == "__main__":
    main()

"""How encoding and training cost grow with data size, single process vs a local Ray cluster, on this machine;
and whether 2 DDP workers train the interest model as well as one process.

Usage:
  .venv/bin/python -m benchmarks.bench_scale [--factors 1,10,100] [--parts encode,train,quality]
  .venv/bin/python -m benchmarks.bench_scale one --task encode|train --engine local|ray --factor F
      (one measurement in a fresh process, printed as JSON; the main command runs these)

Data: Online Retail 5-core grown F times with `tiderec grow` (k disjoint worlds: fresh user/item ids per copy,
titles recombined from real titles of the same category), cleaned with the dataset's preset. Encoding: every item
title with USE-multilingual (numpy), written into a store folder as it is encoded; local = one process with all
cores, Ray = Ray Data actor pool (cluster CPUs - 1 actors) on a local cluster with all cores. Training: the
interest model (ids, event types, time; no text), sampled softmax (2048 negatives) since full softmax over 100x the
catalogue does not fit, batch 256, one epoch capped at --steps steps (windows/s; an epoch's cost = windows /
throughput); Ray = 2 DDP workers of 1 CPU each. Peak memory: the driver's peak RSS (VmHWM), and the largest private
memory (RssAnon + RssFile, sampled every 0.2 s; object-store pages left out) any Ray worker process reached.
Quality: full-softmax interest model on 1x for --quality-epochs epochs (no early stopping), validation NDCG@10 per
epoch for local (two seeds, which gives the noise) and for Ray with 2 workers.
Writes benchmarks/results/scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_models import RESULTS, RUNS, git_commit
from tiderec.clean.pipeline import clean
from tiderec.clean.presets import preset_for
from tiderec.clean.store import write_cleaned
from tiderec.cluster import RayConfig
from tiderec.data.sequences import training_windows
from tiderec.ingest.datasets import load_dataset
from tiderec.ingest.grow import GrowConfig, grow
from tiderec.ingest.mapping import ReadOptions
from tiderec.text.encode import encode_items
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.ray_encode import encode_items_ray
from tiderec.train.auto import settle
from tiderec.train.config import TrainConfig
from tiderec.train.experiment import prepare, train_model
from tiderec.train.loop import fit
from tiderec.train.ray_train import RayTrainConfig, fit_ray
from tiderec.train.registry import build_model, model_config
from tiderec.types import Items

DATASET = "online-retail-5core"
SCALE = RUNS / "scale"
CORES = os.cpu_count() or 1
NO_TEXT = {"use_text": False}
VALID_USERS = 1000


def cleaned_folder(factor: int) -> tuple[Path, dict[str, Any]]:
    """runs/bench/scale/x<F>/cleaned, grown and cleaned once; (folder, how long growing and cleaning took)."""
    folder = SCALE / f"x{factor}" / "cleaned"
    info_path = folder.parent / "prep.json"
    if not (folder / "manifest.json").is_file():
        start = time.perf_counter()
        ds = load_dataset(DATASET, options=ReadOptions(progress=False))
        grown = grow(ds, GrowConfig(factor=factor))
        grown_s = time.perf_counter() - start
        start = time.perf_counter()
        result = clean(grown.events, grown.items, preset_for(DATASET), grown.report)
        clean_s = time.perf_counter() - start
        write_cleaned(result, folder)
        info = {"grow_s": round(grown_s, 2), "clean_s": round(clean_s, 2), "events": len(result.events)}
        info |= {"users": len(result.user_vocab), "items": len(result.item_vocab)}
        info_path.write_text(json.dumps(info), encoding="utf-8")
    return folder, json.loads(info_path.read_text(encoding="utf-8"))


class RayPeak:
    """Samples Ray worker processes ('ray::...') started after it, every 0.2 s, keeping the largest private
    memory (RssAnon + RssFile) any one reached. Shared memory (RssShmem: Ray's object store pages a worker
    touched) is left out: it is the store's, sized by Ray, and counted once for the machine."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self.before = {int(pid) for pid in self.ray_pids()}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    @staticmethod
    def ray_pids() -> list[str]:
        pids = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::"):
                    pids.append(proc.name)
            except OSError:
                continue
        return pids

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for pid in self.ray_pids():
                if int(pid) in self.before:
                    continue
                try:
                    status = (Path("/proc") / pid / "status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                private = sum(int(fields[k].split()[0]) for k in ("RssAnon", "RssFile") if k in fields)
                self.peaks[int(pid)] = max(self.peaks.get(int(pid), 0), private)

    def __enter__(self) -> RayPeak:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def max_mib(self) -> float | None:
        return round(max(self.peaks.values()) / 1024, 1) if self.peaks else None


def driver_peak_mib() -> float:
    """This process's peak RSS (VmHWM: per address space, so not inherited from the parent like ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure_encode(folder: Path, engine: str) -> dict[str, Any]:
    items = Items.read_parquet(folder / "items.parquet")
    start = time.perf_counter()
    with RayPeak() as peak, tempfile.TemporaryDirectory(dir=folder) as scratch:
        out = Path(scratch) / "vectors"
        if engine == "ray":
            use = EncoderConfig(name="use")
            _, report = encode_items_ray(items, use, ray_config=RayConfig(num_cpus=CORES), out=out)
        else:
            encoder = load_encoder(EncoderConfig(name="use", threads=CORES))
            _, report = encode_items(items, encoder, progress=False, out=out)
    wall = time.perf_counter() - start
    return {
        "items": report.items,
        "encoded": report.encoded,
        "encode_s": report.seconds,
        "wall_s": round(wall, 2),
        "items_per_s": round(report.encoded / report.seconds, 1),
        "driver_peak_mib": driver_peak_mib(),
        "worker_peak_mib": peak.max_mib(),
    }


def measure_train(folder: Path, engine: str, steps: int, device: str = "cpu") -> dict[str, Any]:
    start = time.perf_counter()
    prepared = prepare(folder)
    split = prepared.split
    valid = split.valid.take(np.arange(min(VALID_USERS, len(split.valid))))
    config = TrainConfig(
        epochs=1, steps_per_epoch=steps, loss="sampled", negatives=2048, batch_size=256, warmup_steps=10
    )
    config = settle(config, split.train).config  # the model is built before training settles it
    prep_s = time.perf_counter() - start
    start = time.perf_counter()
    windows = len(training_windows(split.train, config.window))
    windows_s = time.perf_counter() - start
    start = time.perf_counter()
    with RayPeak() as peak:
        if engine == "ray":
            cfg = RayTrainConfig(workers=2, cpus_per_worker=max(1, CORES // 2))
            inputs = (split.train, prepared.inter, valid, prepared.inputs, config, NO_TEXT, cfg)
            _, result = fit_ray("tiderec", *inputs, RayConfig(num_cpus=CORES))
        else:
            model = build_model("tiderec", prepared.inter.n_items, config.window, model_config("tiderec", NO_TEXT))
            local = TrainConfig(**{**config.__dict__, "threads": CORES, "device": device})
            result = fit(model, split.train, prepared.inter, valid, local, progress=False)
    wall = time.perf_counter() - start
    done = result.history[-1]["steps"]
    return {
        "events": len(prepared.inter),
        "items": prepared.inter.n_items,
        "windows": windows,
        "steps": done,
        "train_s": result.seconds_per_epoch,
        "windows_per_s": round(done * config.batch_size / result.seconds_per_epoch, 1),
        "epoch_s_projected": round(windows / (done * config.batch_size / result.seconds_per_epoch), 1),
        "prepare_s": round(prep_s, 2),
        "windows_build_s": round(windows_s, 2),
        "wall_s": round(wall, 2),
        "driver_peak_mib": driver_peak_mib(),
        "worker_peak_mib": peak.max_mib(),
    }


def quality(epochs: int) -> dict[str, Any]:
    """Validation NDCG@10 per epoch: local seeds 1 and 2, Ray 2 workers seed 1; full softmax, no early stop."""
    folder, _ = cleaned_folder(1)
    prepared = prepare(folder)
    out: dict[str, Any] = {}
    for label, seed, ray in (("local seed 1", 1, None), ("local seed 2", 2, None), ("ray 2 workers seed 1", 1, 2)):
        config = TrainConfig(epochs=epochs, patience=epochs, seed=seed, threads=None if ray else CORES)
        engine = RayTrainConfig(workers=2, cpus_per_worker=max(1, CORES // 2)) if ray else None
        cluster = RayConfig(num_cpus=CORES) if ray else None
        trained = train_model(prepared, "tiderec", config, NO_TEXT, label, False, engine, cluster)
        assert trained.result is not None
        out[label] = {
            "valid_ndcg@10": [h["ndcg@10"] for h in trained.result.history],
            "best": trained.result.best_valid[trained.train_config.scoring]["ndcg@10"],
            "best_epoch": trained.result.best_epoch,
            "seconds_per_epoch": trained.result.seconds_per_epoch,
        }
        print(label, json.dumps(out[label]), flush=True)
    return out


def run_one(task: str, engine: str, factor: int, steps: int) -> dict[str, Any]:
    folder, prep = cleaned_folder(factor)
    measured = measure_encode(folder, engine) if task == "encode" else measure_train(folder, engine, steps)
    return {"task": task, "engine": engine, "factor": factor, **measured, "grow_clean": prep, "commit": git_commit()}


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Scale: cost vs data size, single process vs Ray (local cluster)",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}, {report['machine']}. {report['method']}",
        "",
        "## Data preparation (single node: grow + clean with polars)",
        "",
        "| factor | events | users | items | grow s | clean s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for factor, prep in sorted(report["prep"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"| {factor}x | {prep['events']:,} | {prep['users']:,} | {prep['items']:,} | {prep['grow_s']} "
            f"| {prep['clean_s']} |"
        )
    enc = [r for r in report["runs"] if r["task"] == "encode"]
    if enc:
        lines += [
            "",
            "## Item encoding (USE-multilingual)",
            "",
            "| factor | engine | items encoded | encode s | items/s | wall s | driver peak MiB | worker peak MiB "
            "| commit |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in enc:
            lines.append(
                f"| {r['factor']}x | {r['engine']} | {r['encoded']:,} | {r['encode_s']} | {r['items_per_s']:,} "
                f"| {r['wall_s']} | {r['driver_peak_mib']:,} | {mib(r['worker_peak_mib'])} | {r.get('commit', '?')} |"
            )
    tr = [r for r in report["runs"] if r["task"] == "train"]
    if tr:
        lines += [
            "",
            "## Training throughput (interest model, sampled softmax)",
            "",
            "| factor | engine | events | items | windows | steps | windows/s | projected epoch s | windows build s "
            "| driver peak MiB | worker peak MiB | commit |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in tr:
            lines.append(
                f"| {r['factor']}x | {r['engine']} | {r['events']:,} | {r['items']:,} | {r['windows']:,} "
                f"| {r['steps']} | {r['windows_per_s']:,} | {r['epoch_s_projected']:,} | {r['windows_build_s']} "
                f"| {r['driver_peak_mib']:,} | {mib(r['worker_peak_mib'])} | {r.get('commit', '?')} |"
            )
    if report.get("quality"):
        lines += ["", "## Quality: 2 DDP workers vs one process (1x, full softmax, validation NDCG@10)", ""]
        lines += ["| run | best | best epoch | s/epoch | per epoch |", "|---|---:|---:|---:|---|"]
        for label, q in report["quality"].items():
            curve = " ".join(f"{v:.3f}" for v in q["valid_ndcg@10"])
            lines.append(f"| {label} | {q['best']:.4f} | {q['best_epoch']} | {q['seconds_per_epoch']} | {curve} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="all", choices=["all", "one"])
    parser.add_argument("--task", choices=["encode", "train"])
    parser.add_argument("--engine", choices=["local", "ray"])
    parser.add_argument("--factor", type=int)
    parser.add_argument("--factors", default="1,10,100")
    parser.add_argument("--parts", default="encode,train,quality")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--quality-epochs", type=int, default=12)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.mode == "one":
        print("RESULT " + json.dumps(run_one(args.task, args.engine, args.factor, args.steps)), flush=True)
        return
    factors = [int(f) for f in args.factors.split(",")]
    parts = args.parts.split(",")
    out = RESULTS / "scale.json"
    report: dict[str, Any] = {
        "command": "python -m benchmarks.bench_scale " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {CORES} CPU cores, no GPU",
        "method": __doc__.split("Data:", 1)[1].split("Writes", 1)[0].strip().replace("\n", " "),
        "prep": {},
        "runs": [],
    }

    if set(parts) != {"encode", "train", "quality"} and out.is_file():
        old = json.loads(out.read_text(encoding="utf-8"))
        report["runs"] = [r for r in old["runs"] if r["task"] not in parts]
        if "quality" not in parts and "quality" in old:
            report["quality"] = old["quality"]
        report["command"] = f"{old['command']}; then {report['command']}"

    def save() -> None:
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (RESULTS / "scale.md").write_text(markdown(report), encoding="utf-8")

    for factor in factors:
        _, report["prep"][str(factor)] = cleaned_folder(factor)
        save()
    for task in ("encode", "train"):
        if task not in parts:
            continue
        for factor in factors:
            for engine in ("local", "ray"):
                cmd = [sys.executable, "-m", "benchmarks.bench_scale", "one", "--task", task, "--engine", engine]
                cmd += ["--factor", str(factor), "--steps", str(args.steps)]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{task} {engine} {factor}x failed (exit {proc.returncode})")
                run = json.loads(lines[-1].removeprefix("RESULT "))
                run.pop("grow_clean", None)
                report["runs"].append(run)
                print(json.dumps(run), flush=True)
                save()
    if "quality" in parts:
        report["quality"] = quality(args.quality_epochs)
        save()
    print(f"-> {out}")


if __name__ == "__main__":
    main()

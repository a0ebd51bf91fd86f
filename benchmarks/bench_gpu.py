"""GPU against the same machine's CPU, same data: MiniLM item encoding (items/s) and interest-model training
throughput (windows/s), on bench_scale's data (Online Retail 5-core grown 1x and 10x with `tiderec grow`).

Usage:
  python -m benchmarks.bench_gpu [--factors 1,10] [--steps 100] [--cpu-steps 20] [--tag _h200]
Encoding: every item title with MiniLM through `encode_items`, each device in its default runtime (CUDA: PyTorch
in half precision, batches of 256; CPU: ONNX Runtime on all cores, batches of 64), written into a store folder;
the two vector sets are compared (cosine). Training: bench_scale's local measurement (interest model, ids, event
types and time, sampled softmax with 2048 negatives, batch 256) on each device for a fixed number of steps.
Writes benchmarks/results/gpu{tag}.{json,md}; Ray on a GPU is not measured here (see docs/scale.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.bench_models import RESULTS, git_commit
from benchmarks.bench_scale import cleaned_folder, measure_train
from tiderec.text.encode import encode_items
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.encoders.base import Device
from tiderec.types import Items

CORES = os.cpu_count() or 1


def encode_on(folder: Path, device: Device) -> tuple[dict[str, Any], np.ndarray]:
    """Encode the folder's items with MiniLM on `device`; (figures, vectors float32[N, 384])."""
    items = Items.read_parquet(folder / "items.parquet")
    batch = 256 if device == "cuda" else 64
    encoder = load_encoder(EncoderConfig(name="minilm", device=device, threads=CORES, batch_size=batch))
    encoder.encode(["warm-up"])
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        start = time.perf_counter()
        store, report = encode_items(items, encoder, progress=False, out=Path(scratch) / "vectors")
        wall = time.perf_counter() - start
        vectors = np.array(store.vectors)
    figures = {
        "items": report.encoded,
        "encode_s": report.seconds,
        "items_per_s": round(report.encoded / report.seconds, 1),
        "wall_s": round(wall, 2),
    }
    return figures, vectors


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# GPU vs CPU on one machine: item encoding and training throughput",
        "",
        f"Command: `{report['command']}`  ",
        f"Commit {report['commit']}, {report['date']}. Machine: {report['machine']}. {report['method']}",
        "",
        "## Item encoding (MiniLM)",
        "",
        "| factor | items | device | encode s | items/s | GPU / CPU | min cosine GPU vs CPU |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in report["encode"]:
        ratio = f"{r['speedup']:.1f}x" if "speedup" in r else ""
        cos = f"{r['min_cosine']:.5f}" if "min_cosine" in r else ""
        lines.append(
            f"| {r['factor']}x | {r['items']:,} | {r['device']} | {r['encode_s']} | {r['items_per_s']:,} "
            f"| {ratio} | {cos} |"
        )
    lines += [
        "",
        "## Training throughput (interest model, sampled softmax, batch 256)",
        "",
        "| factor | items | windows | device | steps | windows/s | GPU / CPU | projected epoch s |",
        "|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in report["train"]:
        ratio = f"{r['speedup']:.1f}x" if "speedup" in r else ""
        lines.append(
            f"| {r['factor']}x | {r['items']:,} | {r['windows']:,} | {r['device']} | {r['steps']} "
            f"| {r['windows_per_s']:,} | {ratio} | {r['epoch_s_projected']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--factors", default="1,10")
    parser.add_argument("--steps", type=int, default=100, help="training steps on the GPU")
    parser.add_argument("--cpu-steps", type=int, default=20, help="training steps on the CPU")
    parser.add_argument("--parts", default="encode,train")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu needs a CUDA device (torch.cuda.is_available() is False)")
    gpu = torch.cuda.get_device_name()
    report: dict[str, Any] = {
        "command": "python -m benchmarks.bench_gpu " + " ".join(sys.argv[1:]),
        "commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{gpu}, {CORES} CPU cores ({platform.machine()}), torch {torch.__version__}",
        "method": "Encoding: " + __doc__.split("Encoding:", 1)[1].split("Writes", 1)[0].strip().replace("\n", " "),
        "encode": [],
        "train": [],
    }
    out = RESULTS / f"gpu{args.tag}.json"

    def save() -> None:
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")

    for factor in (int(f) for f in args.factors.split(",")):
        folder, _ = cleaned_folder(factor)
        if "encode" in args.parts:
            on_gpu, gpu_vectors = encode_on(folder, "cuda")
            on_cpu, cpu_vectors = encode_on(folder, "cpu")
            cosine = float(np.min(np.sum(gpu_vectors * cpu_vectors, axis=1)[np.abs(cpu_vectors).sum(axis=1) > 0]))
            speedup = on_gpu["items_per_s"] / on_cpu["items_per_s"]
            report["encode"] += [
                {"factor": factor, "device": f"CUDA ({gpu})", **on_gpu, "speedup": speedup, "min_cosine": cosine},
                {"factor": factor, "device": f"CPU ({CORES} cores)", **on_cpu},
            ]
            print(json.dumps(report["encode"][-2:]), flush=True)
            save()
        if "train" in args.parts:
            on_gpu = measure_train(folder, "local", args.steps, device="cuda")
            on_cpu = measure_train(folder, "local", args.cpu_steps, device="cpu")
            speedup = on_gpu["windows_per_s"] / on_cpu["windows_per_s"]
            report["train"] += [
                {"factor": factor, "device": f"CUDA ({gpu})", **on_gpu, "speedup": speedup},
                {"factor": factor, "device": f"CPU ({CORES} cores)", **on_cpu},
            ]
            print(json.dumps(report["train"][-2:]), flush=True)
            save()
    print(f"-> {out}")


if __name__ == "__main__":
    main()

"""Encode a catalogue on a Ray cluster: Parquet of distinct texts -> Ray Data actor pool (the model loaded
once per actor) -> Parquet of vectors -> the same vector store the local engine writes.

Planning (rendering, reuse of unchanged vectors, de-duplication) is the local engine's own `plan_encoding`,
so both engines agree on which texts are encoded; only where the model runs differs.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tiderec import config as configs
from tiderec.cluster import RayConfig, cluster_cpus, connect
from tiderec.config import STRICT
from tiderec.errors import ConfigError
from tiderec.text.encode import EncodePlan, EncodeReport, fill_store, plan_encoding, space_of
from tiderec.text.encoders import EncoderConfig, load_encoder
from tiderec.text.store import ItemVectors, VectorSpace
from tiderec.text.template import ItemTextTemplate, default_template
from tiderec.types import Items


@dataclass(frozen=True)
class RayEncodeConfig:
    """actors: encoder actors (default: cluster CPUs / cpus_per_actor, one CPU left for reads and writes);
    batch_size: texts per actor call; rows_per_file: texts per input Parquet file (the unit Ray reads, so
    of parallelism); scratch: folder for the Parquet in between (shared storage on a real
    cluster; default: a temporary folder, removed afterwards)."""

    __pydantic_config__ = STRICT

    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    batch_size: int = 512
    rows_per_file: int = 4096
    scratch: str | None = None

    def pool_size(self) -> int:
        if self.actors is not None:
            if self.actors < 1:
                raise ConfigError(f"actors must be >= 1, got {self.actors}")
            return self.actors
        if self.cpus_per_actor <= 0:
            raise ConfigError(f"cpus_per_actor must be > 0, got {self.cpus_per_actor}")
        return max(1, int((cluster_cpus() - 1) / self.cpus_per_actor))


class EncodeActor:
    """A Ray Data actor: loads the encoder once, then encodes Arrow batches {row, text} into Parquet files
    {row, vector, over_length} of its own under `out` and returns only their names. Writing where the vectors
    are made keeps them out of the object store: through Ray's `write_parquet` one write task gathered them,
    and its memory grew with the catalogue (815 MiB at 318,400 items)."""

    def __init__(self, encoder: dict[str, Any], out: str) -> None:
        self.encoder = load_encoder(configs.from_dict(EncoderConfig, encoder))
        self.out = Path(out)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Writes the batch's vectors to part-<first row>.parquet (a retried batch rewrites the same file);
        `over_length` holds the batch's count of over-long texts in its first row."""
        texts = batch.column("text").to_pylist()
        rows = batch.column("row")
        over = np.zeros(len(texts), dtype=np.int32)
        over[:1] = self.encoder.count_over_length(texts)
        vectors = self.encoder.encode_passages(texts)
        name = f"part-{int(rows[0].as_py()):012d}.parquet"
        partial = self.out / f".{name}.partial"
        pq.write_table(pa.table({"row": rows, "vector": fixed_size(vectors), "over_length": over}), partial)
        partial.replace(self.out / name)
        return pa.table({"file": [name], "rows": [len(texts)]})


def encoder_space(encoder: dict[str, Any], template: ItemTextTemplate) -> VectorSpace:
    """The vector space of an encoder, read where the model runs (the driver need not load it)."""
    return space_of(load_encoder(configs.from_dict(EncoderConfig, encoder)), template)


def fixed_size(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """float32[n, d] as an Arrow fixed-size list column (plain Parquet, readable without Ray)."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])


def place_vectors(paths: list[Path], plan: EncodePlan, target: np.ndarray) -> tuple[int, int]:
    """The {row, vector} Parquet files `paths` (row = position in `plan.unique`) into the rows of `target`
    that have those texts, one row group at a time, so that the driver never holds more than a batch of
    vectors; (vectors read, over-length texts)."""
    written, over = 0, 0
    for path in paths:
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            table = file.read_row_group(group)
            rows = table.column("row").to_numpy()
            flat = table.column("vector").combine_chunks().flatten().to_numpy()
            plan.place(rows.astype(np.int64), flat.reshape(len(rows), target.shape[1]), target)
            written += len(rows)
            over += int(table.column("over_length").to_numpy().sum())
            del table, flat
        pa.default_memory_pool().release_unused()
    return written, over


def encode_items_ray(
    items: Items,
    encoder: EncoderConfig,
    template: ItemTextTemplate | None = None,
    previous: ItemVectors | None = None,
    ray_config: RayConfig | None = None,
    config: RayEncodeConfig | None = None,
    out: Path | None = None,
) -> tuple[ItemVectors, EncodeReport]:
    """`encode_items` on a Ray cluster: same plan, same store (written to `out` in flat memory, as there);
    texts encoded by a pool of actors."""
    cfg = config or RayEncodeConfig()
    tpl = template or default_template(items)[0]
    ray = connect(ray_config)
    threads = max(1, int(cfg.cpus_per_actor))
    actor_encoder = configs.to_dict(configs.with_changes(encoder, {"threads": threads}))
    space = ray.get(ray.remote(encoder_space).options(num_cpus=cfg.cpus_per_actor).remote(actor_encoder, tpl))
    plan = plan_encoding(items, space, tpl, previous)
    start = time.perf_counter()
    over_length = 0

    def fill(target: np.ndarray) -> None:
        nonlocal over_length
        if previous is not None:
            plan.copy_reused(previous.vectors, target)
        if not plan.unique:
            return
        scratch = Path(cfg.scratch) if cfg.scratch else Path(tempfile.mkdtemp(prefix="tiderec-encode-"))
        texts_dir, vectors_dir = scratch / "texts", scratch / "vectors"
        try:
            write_texts(plan.unique, texts_dir, cfg.rows_per_file)
            pool = cfg.pool_size()
            vectors_dir.mkdir(parents=True, exist_ok=True)
            dataset = ray.data.read_parquet(str(texts_dir)).map_batches(
                EncodeActor,
                fn_constructor_kwargs={"encoder": actor_encoder, "out": str(vectors_dir)},
                batch_size=cfg.batch_size,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=pool),
                num_cpus=cfg.cpus_per_actor,
                num_gpus=cfg.gpus_per_actor or None,
            )
            paths = sorted(vectors_dir / str(f["file"]) for f in dataset.take_all())
            written, over_length = place_vectors(paths, plan, target)
            if written != len(plan.unique):
                raise RuntimeError(f"Ray encoding returned {written:,} vectors for {len(plan.unique):,} texts")
        finally:
            if cfg.scratch is None:
                shutil.rmtree(scratch, ignore_errors=True)

    vectors = fill_store(plan, fill, out)
    return plan.store(vectors), plan.report(space.encoder, over_length, time.perf_counter() - start)


def write_texts(texts: list[str], folder: Path, rows_per_file: int) -> None:
    """{row, text} Parquet files of `rows_per_file` texts each (a previous run's files removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("part-*.parquet"):
        stale.unlink()
    for part, first in enumerate(range(0, len(texts), rows_per_file)):
        chunk = texts[first : first + rows_per_file]
        rows = np.arange(first, first + len(chunk), dtype=np.int64)
        pq.write_table(pa.table({"row": rows, "text": chunk}), folder / f"part-{part:05d}.parquet")

"""Commands of the text stage: encode item text into the vector store, find items by free text."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from tiderec import config as configs
from tiderec.artefacts import read_manifest
from tiderec.clean.store import KIND as CLEANED_KIND
from tiderec.cluster import RayConfig
from tiderec.errors import ConfigError
from tiderec.ingest.store import KIND as INGESTED_KIND
from tiderec.text import (
    ENCODERS,
    EncoderConfig,
    EncodeReport,
    ItemTextTemplate,
    choose_encoder,
    encode_items,
    load_encoder,
    read_vectors,
)
from tiderec.text.ray_encode import RayEncodeConfig, encode_items_ray
from tiderec.text.template import default_template
from tiderec.types import Items


def items_of(folder: Path) -> Items:
    read_manifest(folder, (INGESTED_KIND, CLEANED_KIND))
    return Items.read_parquet(folder / "items.parquet")


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Vector store folder [default: FOLDER/../vectors].")
@click.option(
    "--encoder", "encoder_name", default="auto", show_default=True, help=f"auto or one of {sorted(ENCODERS)}."
)
@click.option("--threads", type=int, help="CPU threads [default: all cores].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--runtime", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True)
@click.option("--template", "template_path", type=click.Path(path_type=Path), help="TOML/JSON item text template.")
@click.option("--full", is_flag=True, help="Encode every item again instead of reusing unchanged vectors.")
@click.option(
    "--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Where the model runs."
)
@click.option("--ray-address", help="Running Ray cluster [default: RAY_ADDRESS, else a local cluster].")
@click.option("--actors", type=int, help="Ray encoder actors [default: cluster CPUs - 1].")
@click.option("--scratch", type=click.Path(path_type=Path), help="Ray scratch folder (shared storage on a cluster).")
def encode(
    folder: Path,
    out: Path | None,
    encoder_name: str,
    threads: int | None,
    device: str,
    batch_size: int,
    runtime: str,
    template_path: Path | None,
    full: bool,
    engine: str,
    ray_address: str | None,
    actors: int | None,
    scratch: Path | None,
) -> None:
    """Encode the item texts of an ingested or cleaned FOLDER with a language model (incremental)."""
    target = out or folder.parent / "vectors"
    ray = None
    if engine == "ray":
        ray = RayEncodeConfig(actors=actors, batch_size=batch_size, scratch=None if scratch is None else str(scratch))
    elif actors is not None or ray_address is not None or scratch is not None:
        raise ConfigError("--actors, --ray-address and --scratch need --engine ray")
    report = encode_folder(
        folder, target, encoder_name, threads, device, batch_size, runtime, template_path, full, ray, ray_address
    )
    echo_encoded(report, target)


def encode_folder(
    folder: Path,
    target: Path,
    encoder_name: str,
    threads: int | None = None,
    device: str = "auto",
    batch_size: int = 64,
    runtime: str = "auto",
    template_path: Path | None = None,
    full: bool = False,
    ray: RayEncodeConfig | None = None,
    ray_address: str | None = None,
) -> EncodeReport:
    """Encode FOLDER's items into the store at `target`, in this process or, with `ray`, on a Ray cluster."""
    items = items_of(folder)
    if encoder_name == "auto":
        encoder_name, reason = choose_encoder(items)
        click.echo(f"encoder: {encoder_name} ({reason})")
    config = configs.from_dict(
        EncoderConfig,
        {"name": encoder_name, "threads": threads, "device": device, "batch_size": batch_size, "runtime": runtime},
    )
    if template_path:
        template = configs.load(ItemTextTemplate, template_path)
    else:
        template, reason = default_template(items)
        if template != ItemTextTemplate():
            click.echo(f"template: {reason}")
    previous = None
    if not full and (target / "manifest.json").is_file():
        previous = read_vectors(target, mapped=True)
    if ray is not None:
        _, report = encode_items_ray(items, config, template, previous, RayConfig(address=ray_address), ray, target)
    else:
        _, report = encode_items(items, load_encoder(config), template, previous, out=target)
    return report


def echo_encoded(report: EncodeReport, target: Path) -> None:
    click.echo(
        f"encoded {report.encoded:,} of {report.items:,} items with {report.encoder} in {report.seconds:.1f} s "
        f"({report.items_per_second:,.0f} items/s); reused {report.reused:,}, dropped {report.dropped:,} -> {target}"
    )
    click.echo(
        f"texts: {report.title_fallbacks:,} without a title (category/brand used), {report.empty_texts:,} empty "
        f"(zero vector), {report.over_length:,} over the model's token limit"
    )


@click.command()
@click.argument("query")
@click.option("--vectors", "vectors_dir", required=True, type=click.Path(path_type=Path), help="Vector store folder.")
@click.option("-k", "top_k", type=int, default=10, show_default=True)
@click.option("--threads", type=int)
def find(query: str, vectors_dir: Path, top_k: int, threads: int | None) -> None:
    """Items whose text is closest to QUERY (any language the store's encoder reads)."""
    store = read_vectors(vectors_dir)
    encoder = load_encoder(EncoderConfig(name=store.space.encoder, threads=threads))
    if encoder.version != store.space.encoder_version:
        raise ConfigError(
            f"{vectors_dir} was encoded with {store.space.encoder_version}, installed {encoder.version}: re-encode"
        )
    scores = store.vectors @ encoder.encode_queries([query])[0]
    for rank, row in enumerate(np.argsort(-scores, kind="stable")[:top_k], start=1):
        click.echo(f"{rank:>3}  {scores[row]:.3f}  {store.item_ids[int(row)]:<12}  {store.texts[int(row)]}")

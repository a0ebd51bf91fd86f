"""Where Ray runs: connect to a real cluster by address, or start one local cluster per process.

Ray is an optional dependency (`pip install 'tiderec[ray]'`); it is imported only when a distributed path is
used. On a small machine, leave a CPU free for Ray Data's read and write tasks or a pipeline can stall.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tiderec.config import STRICT
from tiderec.errors import ConfigError


@dataclass(frozen=True)
class RayConfig:
    """address: a running cluster ('ray://host:10001', 'host:6379' or 'auto'); None = the RAY_ADDRESS
    environment variable, else a local cluster of `num_cpus` CPUs (default: all cores)."""

    __pydantic_config__ = STRICT

    address: str | None = None
    num_cpus: int | None = None


def ray_module() -> Any:
    """The `ray` package, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray engine needs Ray: pip install 'tiderec[ray]'") from None
    return ray


def connect(config: RayConfig | None = None) -> Any:
    """Initialise Ray once per process (later calls reuse the connection) and return the module."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    cfg = config or RayConfig()
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address is not None and cfg.num_cpus is not None:
        raise ConfigError("num_cpus sizes a local Ray cluster; a running cluster at an address has its own")
    if cfg.num_cpus is not None and cfg.num_cpus < 1:
        raise ConfigError(f"num_cpus must be >= 1, got {cfg.num_cpus}")
    ray.init(
        address=address,
        num_cpus=cfg.num_cpus,
        include_dashboard=False,
        configure_logging=False,
    )
    return ray


def cluster_cpus() -> int:
    """CPUs of the connected cluster (at least 1)."""
    return max(1, int(ray_module().cluster_resources().get("CPU", 1)))

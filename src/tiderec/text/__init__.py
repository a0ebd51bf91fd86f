"""Text: item and query text -> language-model vectors, cached in a self-describing, incremental store."""

from tiderec.text.choose import choose_encoder
from tiderec.text.encode import EncodeReport, encode_items
from tiderec.text.encoders import ENCODERS, EncoderConfig, TextEncoder, load_encoder
from tiderec.text.store import ItemVectors, VectorSpace, read_vectors, write_vectors
from tiderec.text.template import ItemTextTemplate, render

__all__ = [
    "ENCODERS",
    "EncodeReport",
    "EncoderConfig",
    "ItemTextTemplate",
    "ItemVectors",
    "TextEncoder",
    "VectorSpace",
    "choose_encoder",
    "encode_items",
    "load_encoder",
    "read_vectors",
    "render",
    "write_vectors",
]

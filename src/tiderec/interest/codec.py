"""InterestState <-> bytes for stores: a JSON header (scalars, window, categories) followed by the raw
little-endian arrays; no pickles, readable from any language. Format 1 records (before the seen items, and whose
model state held the moment term; keys as JSON text) still read: their seen items are the window's, and their model
state is marked for recomputation."""

from __future__ import annotations

import json
import struct
from types import MappingProxyType
from typing import Any

import numpy as np

from tiderec.errors import DatasetError
from tiderec.interest.state import Event, InterestState, Profile, QueryInterest

FORMAT = 2


def encode(state: InterestState) -> bytes:
    arrays = [state.long.vector.astype("<f8"), state.short.vector.astype("<f8")]
    if state.model_state is not None:
        arrays.append(np.asarray(state.model_state, dtype="<f4"))
    q = state.query
    if q is not None:
        arrays.append(np.asarray(q.vector, dtype="<f4"))
    arrays.append(np.asarray(state.seen, dtype="<i4"))
    arrays.append(np.asarray(state.keys, dtype="<u8"))
    header = {
        "format": FORMAT,
        "user_id": state.user_id,
        "window": [[e.item_id, e.item, e.ts_us, e.event_type] for e in state.window],
        "long": _profile_header(state.long),
        "short": _profile_header(state.short),
        "model_dim": None if state.model_state is None else int(np.asarray(state.model_state).size),
        "model_version": state.model_version,
        "n_events": state.n_events,
        "unknown_items": state.unknown_items,
        "duplicates": state.duplicates,
        "keys": len(state.keys),
        "seen": len(state.seen),
        "query": None
        if q is None
        else {"text": q.text, "dim": int(q.vector.size), "ts_us": q.ts_us, "min": q.min_price, "max": q.max_price,
              "negations": list(q.negations)},
    }  # fmt: skip
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return struct.pack("<I", len(head)) + head + b"".join(a.tobytes() for a in arrays)


def decode(blob: bytes) -> InterestState:
    try:
        (size,) = struct.unpack_from("<I", blob)
        header: dict[str, Any] = json.loads(blob[4 : 4 + size])
    except (struct.error, ValueError) as exc:
        raise DatasetError(f"interest state: unreadable record ({exc})") from None
    if header.get("format") not in (1, FORMAT):
        raise DatasetError(f"interest state: format {header.get('format')!r}, expected 1 or {FORMAT}")
    offset = 4 + size
    dim = header["long"]["dim"]
    long_vec = np.frombuffer(blob, "<f8", dim, offset)
    short_vec = np.frombuffer(blob, "<f8", dim, offset + 8 * dim)
    model_dim = header["model_dim"]
    model = None if model_dim is None else np.frombuffer(blob, "<f4", model_dim, offset + 16 * dim).copy()
    query = None
    at = offset + 16 * dim + 4 * (model_dim or 0)
    if header.get("query") is not None:
        q = header["query"]
        vector = np.frombuffer(blob, "<f4", q["dim"], at).copy()
        at += 4 * q["dim"]
        query = QueryInterest(q["text"], vector, int(q["ts_us"]), q["min"], q["max"], tuple(q["negations"]))
    window = tuple(Event(str(i), int(x), int(t), int(k)) for i, x, t, k in header["window"])
    if header["format"] == 1:
        seen = tuple(dict.fromkeys(e.item for e in window if e.item >= 0))
        keys = tuple(int(k) for k in header["keys"])
        header["model_version"] = ""
    else:
        seen = tuple(np.frombuffer(blob, "<i4", int(header["seen"]), at).tolist())
        at += 4 * len(seen)
        keys = tuple(np.frombuffer(blob, "<u8", int(header["keys"]), at).tolist())
    return InterestState(
        user_id=header["user_id"],
        window=window,
        long=_profile(header["long"], long_vec.copy()),
        short=_profile(header["short"], short_vec.copy()),
        model_state=model,
        n_events=header["n_events"],
        unknown_items=header["unknown_items"],
        duplicates=header["duplicates"],
        keys=keys,
        query=query,
        model_version=str(header.get("model_version", "")),
        seen=seen,
    )


def _profile_header(p: Profile) -> dict[str, Any]:
    return {"weight": p.weight, "ref_us": p.ref_us, "dim": int(p.vector.size), "categories": list(p.categories.items())}


def _profile(head: dict[str, Any], vector: np.ndarray) -> Profile:
    cats = {int(c): float(w) for c, w in head["categories"]}
    return Profile(float(head["weight"]), vector, MappingProxyType(cats), int(head["ref_us"]))

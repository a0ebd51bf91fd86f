"""Entity tagging of product titles and queries: BIO data, spans, a dictionary-matching baseline, entity-level
metrics, brand/product word lists as per-character match flags, and training/inference of the character tagger
(Taobao title NER: HCCX product word, HPPX brand, XH model, MISC other attribute)."""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from tiderec.errors import BadRow, DatasetError
from tiderec.query.entities import ATTRIBUTES
from tiderec.query.tagger import DECODES, CharTagger, TaggerConfig, ensemble_decode
from tiderec.query.words import WIDTH as WORD_WIDTH
from tiderec.query.words import segmenter, word_flags
from tiderec.text.encoders.e5_states import LAYERS as E5_LAYERS
from tiderec.text.encoders.e5_states import WIDTH as E5_WIDTH
from tiderec.text.encoders.e5_states import e5_states

TYPES = {"HCCX": "product", "HPPX": "brand", "XH": "model", "MISC": "attribute"}


@dataclass(frozen=True)
class Sentence:
    """One title: characters and BIO tags. unlabelled: entity types its annotation does not mark (a title from a
    source that tags brands and product words only); an O there may hide one of them, and training treats it so."""

    chars: list[str]
    tags: list[str]
    unlabelled: tuple[str, ...] = ()


Span = tuple[int, int, str]
"""(start, end, type): characters [start, end) of one entity."""


def read_bio(path: Path) -> list[Sentence]:
    """'char TAG' per line, a blank line between sentences (CRLF or LF); a bad line is an error naming it."""

    def parse(line: str) -> tuple[str, str] | None:
        parts = line.rsplit(" ", 1)
        tag = parts[-1]
        if len(parts) != 2 or not (tag == "O" or tag[:2] in ("B-", "I-")):
            return None
        return parts[0], tag

    return read_tagged(path, parse, "'char TAG'")


def read_tagged(
    path: Path, parse: Callable[[str], tuple[str, str] | None], expected: str, unlabelled: tuple[str, ...] = ()
) -> list[Sentence]:
    """Sentences of a one-character-per-line file, a blank line between sentences: `parse` turns a line into
    (character, BIO tag), or None for a bad line, which is an error naming it and `expected`. Each sentence leaves
    the `unlabelled` types unmarked (see Sentence)."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    out: list[Sentence] = []
    chars: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8", newline=None) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if chars:
                    out.append(Sentence(chars, tags, unlabelled))
                chars, tags = [], []
                continue
            parsed = parse(line)
            if parsed is None:
                raise DatasetError(BadRow(str(path), number, None, "bad tagged line", expected, line).describe())
            chars.append(parsed[0] or " ")
            tags.append(parsed[1])
    if chars:
        out.append(Sentence(chars, tags, unlabelled))
    return out


def spans(tags: list[str]) -> list[Span]:
    """Entity spans of a BIO sequence (an I- after O or another type starts a new entity)."""
    found: list[Span] = []
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and kind == tag[2:] and start >= 0
        if not inside:
            if start >= 0:
                found.append((start, i, kind))
            start, kind = (i, tag[2:]) if tag != "O" else (-1, "")
    return found


def prf(gold: Iterable[list[Span]], pred: Iterable[list[Span]]) -> dict[str, dict[str, float]]:
    """Entity-level precision, recall, F1 per type (exact span and type) and overall."""
    counts: dict[str, list[int]] = {}
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for kind in {s[2] for s in gs | ps} | {"all"}:
            gk = gs if kind == "all" else {s for s in gs if s[2] == kind}
            pk = ps if kind == "all" else {s for s in ps if s[2] == kind}
            c = counts.setdefault(kind, [0, 0, 0])
            c[0] += len(gk & pk)
            c[1] += len(pk)
            c[2] += len(gk)
    out: dict[str, dict[str, float]] = {}
    for kind, (tp, n_pred, n_gold) in counts.items():
        precision, recall = tp / max(n_pred, 1), tp / max(n_gold, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        out[kind] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}
    return out


class Dictionary:
    """Baseline: every entity string of the training data with its most frequent type; longest match first."""

    def __init__(self, sentences: list[Sentence], min_len: int = 2) -> None:
        votes: dict[str, dict[str, int]] = {}
        for s in sentences:
            for a, b, kind in spans(s.tags):
                text = "".join(s.chars[a:b])
                if len(text) >= min_len:
                    votes.setdefault(text, {}).setdefault(kind, 0)
                    votes[text][kind] += 1
        self.terms = {t: max(v, key=lambda k: v[k]) for t, v in votes.items()}
        self.longest = max((len(t) for t in self.terms), default=0)

    def tag(self, chars: list[str]) -> list[Span]:
        text, found, i = "".join(chars), [], 0
        while i < len(chars):
            for n in range(min(self.longest, len(chars) - i), 1, -1):
                kind = self.terms.get(text[i : i + n])
                if kind is not None:
                    found.append((i, i + n, kind))
                    i += n
                    break
            else:
                i += 1
        return found


LEXICON_KINDS = ("HCCX", "HPPX", "XH", "MISC")
"""Entity types that get lexicon match flags (B, I, E, S per type)."""


def read_dictionaries(folder: Path) -> dict[str, set[str]]:
    """Brand (brand*.dic -> HPPX) and product (product*.dic -> HCCX) word lists, one word per line (the
    ecommerce-ner-dicts gazetteers)."""
    files = {"HPPX": sorted(folder.glob("brand*.dic")), "HCCX": sorted(folder.glob("product*.dic"))}
    if not any(files.values()):
        raise DatasetError(f"{folder}: no brand*.dic or product*.dic files")
    out: dict[str, set[str]] = {}
    for kind, paths in files.items():
        for path in paths:
            with path.open(encoding="utf-8") as handle:
                out.setdefault(kind, set()).update(w for w in (line.strip() for line in handle) if w)
    return out


def _fold(chars: list[str]) -> str:
    """Lower-cased text, one character per position (a character whose lower case grows is kept as is)."""
    return "".join(c.lower() if len(c.lower()) == 1 else c[:1] or " " for c in chars)


class Gazetteer:
    """Typed word list -> per-character match flags float32[T, 4 * len(LEXICON_KINDS)]: for every word found in the
    text (all matches, case-insensitive), B/I/E/S of its type at the characters it covers. Why: brands and product
    words are largely a lexicon problem, and the flags let the tagger use words it never saw in a title."""

    def __init__(self, words: dict[str, set[str]], longest: int = 16) -> None:
        terms: dict[str, set[str]] = {}
        for kind, found in words.items():
            if kind not in LEXICON_KINDS:
                raise ValueError(f"unknown lexicon type {kind!r}; valid: {', '.join(LEXICON_KINDS)}")
            for w in found:
                if 0 < len(w) <= longest and len(_fold(list(w))) == len(w):
                    terms.setdefault(_fold(list(w)), set()).add(kind)
        self.terms = {t: sorted(k) for t, k in terms.items()}
        self.longest = max((len(t) for t in self.terms), default=0)

    @classmethod
    def of(cls, sentences: Iterable[Sentence], extra: dict[str, set[str]] | None = None) -> Gazetteer:
        """The entity strings of tagged sentences, plus an external typed word list."""
        words: dict[str, set[str]] = {k: set(v) for k, v in (extra or {}).items()}
        for s in sentences:
            for a, b, kind in spans(s.tags):
                if kind in LEXICON_KINDS:
                    words.setdefault(kind, set()).add("".join(s.chars[a:b]))
        return cls(words)

    @property
    def width(self) -> int:
        return 4 * len(LEXICON_KINDS)

    def flags(self, chars: list[str]) -> np.ndarray:
        """float32[T, 16]: column 4 * type_index + (0 B, 1 I, 2 E, 3 S)."""
        text, out = _fold(chars), np.zeros((len(chars), self.width), dtype=np.float32)
        for i in range(len(text)):
            for n in range(1, min(self.longest, len(text) - i) + 1):
                kinds = self.terms.get(text[i : i + n])
                if kinds is None:
                    continue
                for kind in kinds:
                    col = 4 * LEXICON_KINDS.index(kind)
                    if n == 1:
                        out[i, col + 3] = 1.0
                    else:
                        out[i, col] = out[i + n - 1, col + 2] = 1.0
                        out[i + 1 : i + n - 1, col + 1] = 1.0
        return out

    def longest_match(self, chars: list[str]) -> list[Span]:
        """Baseline tagging by the word list alone: longest match (2+ characters) first, first type of a word."""
        text, found, i = _fold(chars), [], 0
        while i < len(text):
            for n in range(min(self.longest, len(text) - i), 1, -1):
                kinds = self.terms.get(text[i : i + n])
                if kinds:
                    found.append((i, i + n, kinds[0]))
                    i += n
                    break
            else:
                i += 1
        return found

    def to_json(self) -> dict[str, list[str]]:
        by_kind: dict[str, list[str]] = {k: [] for k in LEXICON_KINDS}
        for term, kinds in sorted(self.terms.items()):
            for kind in kinds:
                by_kind[kind].append(term)
        return by_kind


HIDDEN = ("plausible", "anywhere")
"""Where an O of a partially labelled title may hide an unlabelled type (TrainConfig.hidden)."""
MODEL_CHARS = frozenset(string.ascii_letters + string.digits + "-/.")
"""Characters of model numbers (ilce-6000l, f2.8, a/b): 91% of the training titles' models are made of these alone."""


def attribute_words(sentences: Iterable[Sentence]) -> Gazetteer:
    """The attribute (MISC) words of fully labelled titles plus the lexicon's attribute words (entities.ATTRIBUTES)."""
    words = {"".join(s.chars[a:b]) for s in sentences if not s.unlabelled for a, b, k in spans(s.tags) if k == "MISC"}
    return Gazetteer({"MISC": words | set(ATTRIBUTES)})


def hidden_plausible(chars: list[str], attributes: Gazetteer) -> dict[str, np.ndarray]:
    """bool[T] per hidden type: MISC on characters a known attribute word covers, XH on characters of MODEL_CHARS.
    Why: allowed at every O, the hidden types cost the partial likelihood nothing anywhere, and the tagger learned to
    read attributes into any text (query suite attribute precision 0.76 -> 0.54); elsewhere an O is a hard O."""
    column = 4 * LEXICON_KINDS.index("MISC")
    return {
        "MISC": attributes.flags(chars)[:, column : column + 4].sum(axis=1) > 0,
        "XH": np.array([c in MODEL_CHARS for c in chars], dtype=bool),
    }


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the model's shape is `model`. gazetteer: add lexicon flags (training entities plus the
    `lexicon` word list given to train_tagger; a training title sees only the entities of the other `folds`, so the
    tagger learns how far to trust a match for a word it has not seen). patience: epochs without a better validation
    F1 before stopping. lr_decay: learning rate factor per epoch. words: add word segmentation flags (query/words.py).
    e5_layer: add each character's state after this layer of multilingual-e5-small (text/encoders/e5_states.py; 0:
    none), projected as model.states_dim says.
    Training sentences with `unlabelled` types are fitted by the partial-label likelihood (CRF.nll); hidden (one of
    HIDDEN) says where their O may hide such a type: "plausible" (hidden_plausible) or "anywhere" (build version 2)."""

    model: TaggerConfig = field(default_factory=TaggerConfig)
    epochs: int = 40
    patience: int = 8
    batch: int = 64
    lr: float = 2e-3
    lr_decay: float = 0.95
    clip: float = 5.0
    seed: int = 0
    gazetteer: bool = True
    folds: int = 5
    min_bigram_count: int = 2
    hidden: str = "plausible"
    words: bool = True
    e5_layer: int = 0

    def __post_init__(self) -> None:
        if self.hidden not in HIDDEN:
            raise ValueError(f"unknown hidden-type rule {self.hidden!r}; valid: {', '.join(HIDDEN)}")
        if not 0 <= self.e5_layer <= E5_LAYERS:
            raise ValueError(f"e5_layer must be 0..{E5_LAYERS} (got {self.e5_layer})")


@dataclass(frozen=True)
class _Features:
    chars: np.ndarray  # int64[T]
    bigrams: np.ndarray  # int64[T]
    flags: np.ndarray  # float32[T, F]


@dataclass
class TrainedTagger:
    """Trained CharTagger(s) with their shared vocabularies and gazetteer; predict gives entity spans per sentence.
    Several models form a seed ensemble, decoded as `decode` says (one of tagger.DECODES). words: the flags hold word
    segmentation flags (query/words.py); e5_layer: then the states of that multilingual-e5-small layer (0: none)."""

    models: list[CharTagger]
    chars: dict[str, int]
    tags: list[str]
    bigrams: dict[str, int] = field(default_factory=dict)
    gazetteer: Gazetteer | None = None
    decode: str = "scores"
    words: bool = False
    e5_layer: int = 0

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("a TrainedTagger needs at least one model")
        if self.decode not in DECODES:
            raise ValueError(f"unknown ensemble decode {self.decode!r}; valid: {', '.join(DECODES)}")
        shapes = {(m.config, m.n_flags) for m in self.models}
        if len(shapes) > 1:
            raise ValueError(f"ensemble members differ in shape (config, flags): {sorted(map(str, shapes))}")
        if self.words:
            segmenter()
        if self.e5_layer:
            e5_states(self.e5_layer)

    @property
    def n_flags(self) -> int:
        return self.models[0].n_flags

    def features(
        self, chars: list[str], gazetteer: Gazetteer | None = None, states: np.ndarray | None = None
    ) -> _Features:
        """Ids and flags of one sentence; `gazetteer` overrides the tagger's own (out-of-fold flags in training);
        `states` float32[T, 384] are its e5 states when computed already (featurise batches them)."""
        odd = next((c for c in chars if len(c) != 1), None)
        if odd is not None:
            raise ValueError(f"a sentence is a list of single characters; got the element {odd!r}")
        gaz = gazetteer or self.gazetteer
        ids = np.array([self.chars.get(c, 1) for c in chars], dtype=np.int64)
        pairs = [a + b for a, b in zip(chars, [*chars[1:], "</s>"], strict=False)]
        bigrams = np.array([self.bigrams.get(p, 1) for p in pairs], dtype=np.int64)
        columns = [gaz.flags(chars) if gaz is not None else np.zeros((len(chars), 0), dtype=np.float32)]
        if self.words:
            columns.append(word_flags(chars))
        if self.e5_layer:
            text = "".join(chars)
            columns.append(states if states is not None else e5_states(self.e5_layer).states([text])[0])
        return _Features(ids, bigrams, np.concatenate(columns, axis=1))

    def featurise(
        self, sentences: list[list[str]], gazetteers: list[Gazetteer | None] | None = None, progress: bool = False
    ) -> list[_Features]:
        """features() of many sentences, their e5 states computed in batches; gazetteers: one per sentence."""
        texts = ["".join(s) for s in sentences]
        states: list[np.ndarray | None] = [None] * len(texts)
        if self.e5_layer:
            reader = e5_states(self.e5_layer)
            step = 512
            for start in tqdm(range(0, len(texts), step), desc="e5 states", disable=not progress, leave=False):
                states[start : start + step] = reader.states(texts[start : start + step])
        given = gazetteers or [None] * len(sentences)
        return [self.features(s, g, x) for s, g, x in zip(sentences, given, states, strict=True)]

    def predict(self, sentences: list[list[str]], batch: int = 256) -> list[list[Span]]:
        """Entity spans per sentence; an empty sentence has none."""
        return self.predict_features(self.featurise(sentences), batch)

    def predict_features(self, feats: list[_Features], batch: int = 256) -> list[list[Span]]:
        """Entity spans from precomputed features (validation during training reuses them every epoch)."""
        for model in self.models:
            model.eval()
        out: list[list[Span]] = [[] for _ in feats]
        todo = [k for k, f in enumerate(feats) if len(f.chars)]
        with torch.inference_mode():
            for start in range(0, len(todo), batch):
                part = todo[start : start + batch]
                chars, bigrams, flags, mask = _batch([feats[k] for k in part], self.n_flags)
                best = ensemble_decode(self.models, chars, bigrams, flags, mask, self.decode).numpy()
                for row, k in enumerate(part):
                    out[k] = spans([self.tags[t] for t in best[row, : len(feats[k].chars)]])
        return out

    def save(self, folder: Path) -> None:
        """tagger.safetensors (weights, member k's under "k.") + tagger.json (config, member count, decode,
        vocabularies) + gazetteer.json (typed words)."""
        folder.mkdir(parents=True, exist_ok=True)
        states = [model.state_dict() for model in self.models]
        weights = {f"{k}.{name}": v.contiguous() for k, state in enumerate(states) for name, v in state.items()}
        save_file(weights, str(folder / "tagger.safetensors"))
        meta = {"config": asdict(self.models[0].config), "members": len(self.models), "decode": self.decode,
                "chars": self.chars, "tags": self.tags, "bigrams": self.bigrams, "n_flags": self.n_flags,
                "words": self.words, "e5_layer": self.e5_layer}  # fmt: skip
        (folder / "tagger.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        gaz = folder / "gazetteer.json"
        if self.gazetteer is not None:
            gaz.write_text(json.dumps(self.gazetteer.to_json(), ensure_ascii=False), encoding="utf-8")
        elif gaz.exists():
            gaz.unlink()

    @classmethod
    def load(cls, folder: Path) -> TrainedTagger:
        """Loads what save wrote, the single-model layout before ensembles (no "members", unprefixed weights), and the
        oldest one (tagger.json with only dim and hidden, no CRF or features)."""
        meta = json.loads((folder / "tagger.json").read_text(encoding="utf-8"))
        older = {"dim": meta.get("dim", 128), "hidden": meta.get("hidden", 128), "bigram_dim": 0, "dropout": 0.2,
                 "crf": False}  # fmt: skip
        config = TaggerConfig(**meta.get("config", older))
        bigrams: dict[str, int] = meta.get("bigrams", {})
        n_flags = int(meta.get("n_flags", 0))
        segmented = bool(meta.get("words", False))
        gaz_path = folder / "gazetteer.json"
        e5_layer = int(meta.get("e5_layer", 0))
        gazetteer = None
        if n_flags > (WORD_WIDTH if segmented else 0) + (E5_WIDTH if e5_layer else 0):
            if not gaz_path.is_file():
                raise DatasetError(f"{gaz_path}: missing (the tagger was trained with lexicon flags)")
            words = json.loads(gaz_path.read_text(encoding="utf-8"))
            gazetteer = Gazetteer({k: set(v) for k, v in words.items()})
        models = []
        for state in _member_states(folder / "tagger.safetensors", meta.get("members")):
            model = CharTagger(len(meta["chars"]) + 2, meta["tags"], config, len(bigrams) + 2, n_flags)
            model.load_state_dict(state)
            models.append(model)
        decode = meta.get("decode", "scores")
        return cls(models, meta["chars"], meta["tags"], bigrams, gazetteer, decode, segmented, e5_layer)


def _member_states(path: Path, members: int | None) -> list[dict[str, torch.Tensor]]:
    """Weights per member: keys "k.name" for k < members, or one unprefixed model (members None: older layout)."""
    weights = load_file(str(path))
    if members is None:
        return [weights]
    states: list[dict[str, torch.Tensor]] = [{} for _ in range(members)]
    for name, value in weights.items():
        k, _, rest = name.partition(".")
        if not k.isdigit() or int(k) >= members:
            raise DatasetError(f"{path}: weight {name!r} belongs to no member 0..{members - 1}")
        states[int(k)][rest] = value
    empty = [k for k, state in enumerate(states) if not state]
    if empty:
        raise DatasetError(f"{path}: no weights for member(s) {empty} of {members} (tagger.json says {members})")
    return states


def ensemble(taggers: list[TrainedTagger], decode: str = "scores") -> TrainedTagger:
    """One tagger holding every model of `taggers`, decoded as `decode` says (tagger.DECODES). For seed ensembles of
    one training set: the vocabularies and the gazetteer must be the same, which the same titles and word lists give."""
    if not taggers:
        raise ValueError("ensemble needs at least one tagger")
    first = taggers[0]
    for other in taggers[1:]:
        shape = (first.chars, first.tags, first.bigrams, first.words, first.e5_layer)
        if (other.chars, other.tags, other.bigrams, other.words, other.e5_layer) != shape:
            raise ValueError("ensemble members differ in vocabularies or features (trained on different titles?)")
        terms = [t.gazetteer.terms if t.gazetteer is not None else None for t in (first, other)]
        if terms[0] != terms[1]:
            raise ValueError("ensemble members differ in gazetteer (trained with different word lists?)")
    models = [m for t in taggers for m in t.models]
    return TrainedTagger(
        models, first.chars, first.tags, first.bigrams, first.gazetteer, decode, first.words, first.e5_layer
    )


def _batch(feats: list[_Features], n_flags: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded chars, bigrams int64[B, T] (0 pad, 1 unknown), flags float32[B, T, F], mask bool[B, T]."""
    width = max((len(f.chars) for f in feats), default=1) or 1
    chars = np.zeros((len(feats), width), dtype=np.int64)
    bigrams = np.zeros((len(feats), width), dtype=np.int64)
    flags = np.zeros((len(feats), width, n_flags), dtype=np.float32)
    for k, f in enumerate(feats):
        n = len(f.chars)
        chars[k, :n], bigrams[k, :n] = f.chars, f.bigrams
        if n_flags:
            flags[k, :n] = f.flags
    return torch.from_numpy(chars), torch.from_numpy(bigrams), torch.from_numpy(flags), torch.from_numpy(chars > 0)


def _buckets(
    lengths: list[int], size: int, rng: np.random.Generator, partial: list[bool] | None = None
) -> list[list[int]]:
    """Shuffled batches of similar length (sorted within shuffled windows of 20 batches): less padding, faster.
    Partially labelled sentences (`partial`) are batched apart from the rest, so only their batches pay for the
    constrained likelihood."""
    order = [k for k in rng.permutation(len(lengths)) if lengths[k]]
    groups = [[k for k in order if partial[k] == flag] for flag in (False, True)] if partial else [order]
    out: list[list[int]] = []
    for group in groups:
        for start in range(0, len(group), 20 * size):
            window = sorted(group[start : start + 20 * size], key=lambda k: lengths[k])
            out += [window[i : i + size] for i in range(0, len(window), size)]
    return [out[i] for i in rng.permutation(len(out))]


def _allowed(sentence: Sentence, tags: list[str], attributes: Gazetteer | None = None) -> np.ndarray | None:
    """bool[T, n_tags] for a partially labelled sentence (its tag where it marks an entity; where it says O, O or a
    tag of an unlabelled type: where hidden_plausible allows it given `attributes`, anywhere without them); None for
    a fully labelled one."""
    if not sentence.unlabelled:
        return None
    n = len(sentence.tags)
    where = hidden_plausible(sentence.chars, attributes) if attributes is not None else {}
    out = np.zeros((n, len(tags)), dtype=bool)
    for j, tag in enumerate(tags):
        if tag == "O":
            out[:, j] = True
        elif tag[2:] in sentence.unlabelled:
            out[:, j] = where.get(tag[2:], np.ones(n, dtype=bool))
    for i, tag in enumerate(sentence.tags):
        if tag != "O":
            out[i] = False
            out[i, tags.index(tag)] = True
    return out


def _allowed_batch(rows: list[np.ndarray | None], gold: torch.Tensor) -> torch.Tensor | None:
    """bool[B, T, n_tags] when any row is partially labelled (a fully labelled row allows its gold tag only; the
    CRF ignores padding); None when none is, so fully labelled batches keep the plain likelihood."""
    if all(r is None for r in rows):
        return None
    n_tags = next(r for r in rows if r is not None).shape[1]
    out = torch.nn.functional.one_hot(gold, n_tags).bool()  # [B, T, n_tags]
    for row, allowed in enumerate(rows):
        if allowed is not None:
            out[row, : len(allowed)] = torch.from_numpy(allowed)
    return out


def train_tagger(
    train: list[Sentence],
    valid: list[Sentence],
    config: TrainConfig = TrainConfig(),
    lexicon: dict[str, set[str]] | None = None,
    progress: bool = True,
    label: str = "tagger",
    position: int = 0,
) -> tuple[TrainedTagger, list[float]]:
    """AdamW on the CRF likelihood (or token cross-entropy); keeps the epoch with the best validation entity F1 (all
    types), stopping after `patience` epochs without one. Returns the tagger and validation F1 per epoch. label and
    position name and place its progress bar (members trained side by side each have a line)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    chars = {c: i + 2 for i, c in enumerate(sorted({c for s in train for c in s.chars}))}
    counts: dict[str, int] = {}
    for s in train:
        for a, b in zip(s.chars, [*s.chars[1:], "</s>"], strict=True):
            counts[a + b] = counts.get(a + b, 0) + 1
    frequent = sorted(p for p, n in counts.items() if n >= config.min_bigram_count)
    bigrams = {p: i + 2 for i, p in enumerate(frequent)} if config.model.bigram_dim > 0 else {}
    tags = ["O", *sorted({t for s in train for t in s.tags} - {"O"})]
    tag_id = {t: i for i, t in enumerate(tags)}
    gazetteer = Gazetteer.of(train, lexicon) if config.gazetteer else None
    states = E5_WIDTH if config.e5_layer else 0
    n_flags = (gazetteer.width if gazetteer is not None else 0) + (WORD_WIDTH if config.words else 0) + states
    model = CharTagger(len(chars) + 2, tags, replace(config.model, states=states), len(bigrams) + 2, n_flags)
    tagger = TrainedTagger([model], chars, tags, bigrams, gazetteer, words=config.words, e5_layer=config.e5_layer)
    fold = rng.integers(0, config.folds, len(train))
    held_out = [
        Gazetteer.of([s for s, f in zip(train, fold, strict=True) if f != k], lexicon) if gazetteer else None
        for k in range(config.folds)
    ]
    feats = tagger.featurise([s.chars for s in train], [held_out[f] for f in fold], progress)
    gold = [np.array([tag_id.get(t, 0) for t in s.tags], dtype=np.int64) for s in train]
    attributes = attribute_words(train) if config.hidden == "plausible" else None
    allowed = [_allowed(s, tags, attributes) for s in train]
    partial = [a is not None for a in allowed] if any(a is not None for a in allowed) else None
    valid_feats = tagger.featurise([s.chars for s in valid])
    valid_gold = [spans(s.tags) for s in valid]
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=config.lr_decay)
    history: list[float] = []
    best, best_state, since = -1.0, None, 0
    for _ in tqdm(range(config.epochs), desc=label, position=position, disable=not progress):
        model.train()
        for part in _buckets([len(s.chars) for s in train], config.batch, rng, partial):
            x, bg, fl, mask = _batch([feats[k] for k in part], n_flags)
            y = torch.zeros(x.shape, dtype=torch.long)
            for row, k in enumerate(part):
                y[row, : len(gold[k])] = torch.from_numpy(gold[k])
            loss = model.loss(model(x, bg, fl), y, mask, _allowed_batch([allowed[k] for k in part], y))
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            opt.step()
        schedule.step()
        score = prf(valid_gold, tagger.predict_features(valid_feats))["all"]["f1"]
        history.append(score)
        if score > best:
            best, best_state, since = score, {k: v.clone() for k, v in model.state_dict().items()}, 0
        else:
            since += 1
            if since >= config.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return tagger, history

"""One self-contained HTML report of a dataset's interest dynamics for a product manager: sample users'
timelines, migrations found, rising and falling interests, forecast against actual demand, and next-interest
accuracy — inline SVG plots and tables, no scripts, no external files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

import numpy as np

from tiderec.data.interactions import Interactions
from tiderec.data.space import InterestSpace
from tiderec.data.splits import leave_one_out
from tiderec.dynamics.lasting import LASTING, History, LastingModel, learn_lasting, runs, user_histories
from tiderec.dynamics.migration import MigrationConfig, detect, learn_detector
from tiderec.dynamics.plot import line_chart_svg, timeline_svg
from tiderec.dynamics.shortterm import NextInterest, choose_mix, histories_of, top_k_accuracy
from tiderec.dynamics.timeline import Granularity, granularity_for, timeline
from tiderec.dynamics.trends import PERIOD, backtest, forecast, interest_counts, rising_falling
from tiderec.interest.state import InterestConfig

CSS = (
    "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse;"
    "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}ul.legend{list-style:none;"
    "padding:0;font-size:12px;columns:2}section{margin-bottom:2.5em}"
)


@dataclass(frozen=True)
class ReportConfig:
    """How many sample users get a timeline; how many interests the charts show; the detector's settings."""

    users: int = 3
    top: int = 5
    migration: MigrationConfig = field(default_factory=MigrationConfig)


def report_html(inter: Interactions, space: InterestSpace, title: str, config: ReportConfig | None = None) -> str:
    """The whole page for one dataset (its cleaned interactions and interest space)."""
    cfg = config or ReportConfig()
    codes_all = space.codes[inter.item]
    span = int(inter.ts.max() - inter.ts.min()) if len(inter) else 0
    gran = granularity_for(span)
    sections = [
        _summary(inter, space, gran),
        _timelines(inter, space, cfg),
        _migrations(inter, space, cfg),
        _trends(inter, codes_all, space, gran, cfg),
        _short_term(inter, space),
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{CSS}</style>"
        f"</head><body><h1>{escape(title)}</h1>{''.join(sections)}</body></html>"
    )


def _summary(inter: Interactions, space: InterestSpace, gran: Granularity) -> str:
    if not len(inter):
        return "<section><p>No events.</p></section>"
    first = datetime.fromtimestamp(int(inter.ts.min()) / 1e6, UTC).date()
    last = datetime.fromtimestamp(int(inter.ts.max()) / 1e6, UTC).date()
    return (
        f"<section id='summary'><p>{len(inter):,} events of {inter.n_users:,} users on {inter.n_items:,} items, "
        f"{first} to {last}; {len(space.labels)} interests ({escape(space.source)}); windows per {gran}.</p></section>"
    )


def _timelines(inter: Interactions, space: InterestSpace, cfg: ReportConfig) -> str:
    weights_of = InterestConfig().weight_of
    busiest = np.argsort(-inter.lengths(), kind="stable")[: cfg.users]
    parts = ["<section id='timelines'><h2>How sample shoppers' interests moved</h2>"]
    for u in busiest.tolist():
        lo, hi = int(inter.offsets[u]), int(inter.offsets[u + 1])
        weights = np.array([weights_of(int(t)) for t in inter.event_type[lo:hi]])
        tl = timeline(inter.user_vocab.ids[u], inter.item[lo:hi], inter.ts[lo:hi], weights, space)
        parts.append(f"<h3>{escape(tl.user_id)} ({hi - lo} events)</h3>{timeline_svg(tl)}")
    return "".join(parts) + "</section>"


def _migrations(inter: Interactions, space: InterestSpace, cfg: ReportConfig) -> str:
    kinds: Counter[str] = Counter()
    rows: list[str] = []
    sequences = [space.codes[inter.items_of(u)] for u in range(inter.n_users)]
    learned = learn_detector(sequences, len(space.labels), cfg.migration)
    histories = user_histories(inter, space.codes)
    lasting = learn_lasting(histories, len(space.labels), space.vectors)
    for u, codes in enumerate(sequences):
        for m in detect(codes, cfg.migration, space.vectors, learned):
            kinds[m.kind] += 1
            if len(rows) < 15:
                ts = datetime.fromtimestamp(int(inter.ts[inter.offsets[u] + m.at_index]) / 1e6, UTC)
                known = int((codes[: m.at_index + 1] >= 0).sum())
                rows.append(
                    f"<tr><td>{escape(inter.user_vocab.ids[u])}</td><td>{ts:%Y-%m-%d %H:%M}</td><td>{m.kind}</td>"
                    f"<td>{escape(', '.join(space.label(c) for c, _ in m.from_[:3]))}</td>"
                    f"<td>{escape(', '.join(space.label(c) for c, _ in m.to[:3]))}</td><td>{m.confidence:.2f}</td>"
                    f"<td>{_lasting_cell(lasting, histories[u], known)}</td></tr>"
                )
    counts = ", ".join(f"{k}: {v:,}" for k, v in sorted(kinds.items())) or "none"
    return (
        f"<section id='migrations'><h2>Interest changes found</h2><p>{counts}</p><table><tr>"
        f"<th>user</th><th>when</th><th>kind</th><th>from</th><th>to</th><th>confidence</th><th>P(lasting)</th>"
        f"</tr>{''.join(rows)}</table>{_new_interests(inter, space, histories, lasting)}</section>"
    )


def _new_interests(
    inter: Interactions, space: InterestSpace, histories: list[History], model: LastingModel | None, k: int = 3
) -> str:
    """The latest runs of new interests that reached k events, with the probability of lasting the model gave at
    the k-th and what happened; and how the calls held up over every such run."""
    if model is None:
        return "<p>Too few runs of new interests in these histories to learn whether they last.</p>"
    found = [(u, r) for u, h in enumerate(histories) for r in runs(h.codes) if r.length >= k]
    if not found:
        return "<p>No run of new interests reached {k} events.</p>"
    probs = model.probabilities(histories, found, k)
    called = probs >= model.thresholds[model.fitted_k(k)]
    labels = np.array([-1 if r.label is None else r.label for _, r in found])
    resolved = labels >= 0
    shares = [float((labels[mask & resolved] == 1).mean()) if (mask & resolved).any() else 0.0
              for mask in (called, ~called)]  # fmt: skip
    latest = sorted(range(len(found)), key=lambda i: -int(histories[found[i][0]].ts[found[i][1].start]))[:15]
    rows = []
    for i in latest:
        u, run = found[i]
        h = histories[u]
        when = datetime.fromtimestamp(int(h.ts[run.start]) / 1e6, UTC)
        names = ", ".join(dict.fromkeys(space.label(int(c)) for c in h.codes[run.start : run.start + k]))
        outcome = {1: "lasted", 0: "excursion", None: "open"}[run.label]
        rows.append(
            f"<tr><td>{escape(inter.user_vocab.ids[u])}</td><td>{when:%Y-%m-%d %H:%M}</td><td>{escape(names)}</td>"
            f"<td>{probs[i]:.2f}</td><td>{outcome}</td></tr>"
        )
    return (
        f"<h3>New interests: lasting move or excursion?</h3><p>{len(found):,} runs of interests new to the shopper "
        f"reached {k} events; at event {k}, the lasting-move model (dynamics/lasting.py, learned from these "
        f"histories' own outcomes: {LASTING} events in new interests before a return) called {int(called.sum()):,} "
        f"lasting. Of those called lasting and resolved, {shares[0]:.0%} lasted; of the others, {shares[1]:.0%}.</p>"
        f"<table><tr><th>user</th><th>started</th><th>new interests</th><th>P(lasting)</th><th>then</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _lasting_cell(model: LastingModel | None, history: History, known: int) -> str:
    """P(lasting) of the run of new interests the first `known` events end in, and how the run turned out."""
    current = None if model is None else model.current(history.head(known))
    if current is None:
        return "–"
    run, probability = current
    outcome = next((r for r in runs(history.codes) if r.start == run.start), run)
    label = {1: "lasted", 0: "excursion", None: "open"}[outcome.label]
    return f"{probability:.2f} ({label})"


def _trends(inter: Interactions, codes: np.ndarray, space: InterestSpace, gran: Granularity, cfg: ReportConfig) -> str:
    if not len(inter):
        return ""
    counts = interest_counts(inter.ts, codes, len(space.labels), gran)
    series, labels = counts.counts, [s.strftime("%m-%d") for s in counts.starts]
    busiest = np.argsort(-series.sum(axis=0), kind="stable")[: cfg.top]
    chart = line_chart_svg({space.label(int(k)): series[:, k] for k in busiest}, labels)
    moved = [t for t in rising_falling(series) if t.q < 0.05][:10] if len(series) > 1 else []
    rows = "".join(
        f"<tr><td>{'rising' if t.ratio > 1 else 'falling'}</td><td>{escape(space.label(t.interest))}</td>"
        f"<td>{t.before}</td><td>{t.now}</td><td>x{t.ratio:.2f}</td><td>{t.q:.2g}</td></tr>"
        for t in moved
    )
    period = PERIOD[gran]
    origins = min(28 if gran == "day" else 8, len(series) - 1)
    forecast_part = ""
    if origins >= 1:
        start = len(series) - origins
        predicted = np.stack([forecast(series[:t], period) for t in range(start, len(series))])
        total_actual, total_predicted = series[start:].sum(axis=1), predicted.sum(axis=1)
        wape = backtest(series, period, origins)
        forecast_part = (
            f"<h3>Forecast against actual demand (all interests, last {origins} windows)</h3>"
            + line_chart_svg(
                {"actual": total_actual, "forecast": total_predicted}, labels[start:], dashed=frozenset({"forecast"})
            )
            + "<p>WAPE per interest: "
            + ", ".join(f"{k} {v:.3f}" for k, v in wape.items())
            + "</p>"
        )
    return (
        f"<section id='trends'><h2>Interests over time</h2>{chart}<h3>Rising and falling in the last window "
        f"(q &lt; 0.05)</h3><table><tr><th></th><th>interest</th><th>before</th><th>now</th><th>share ratio</th>"
        f"<th>q</th></tr>{rows}</table>{forecast_part}</section>"
    )


def _short_term(inter: Interactions, space: InterestSpace) -> str:
    if inter.n_users == 0 or (inter.lengths() >= 3).sum() == 0:
        return ""
    split = leave_one_out(inter)
    model = NextInterest(split.train, space.codes, len(space.labels))
    valid = [k for k in range(len(split.valid)) if space.codes[split.valid.item[k]] >= 0]
    test = [k for k in range(len(split.test)) if space.codes[split.test.item[k]] >= 0]
    if not valid or not test:
        return ""
    vh = [h for k, h in enumerate(histories_of(inter, split.valid)) if k in set(valid)]
    mix = choose_mix(model, vh, space.codes[split.valid.item[valid]])
    th = [h for k, h in enumerate(histories_of(inter, split.test)) if k in set(test)]
    truth = space.codes[split.test.item[test]]
    rows = {
        "tiderec": top_k_accuracy(model.scores(th, mix), truth),
        "last interest": top_k_accuracy(model.last_interest(th), truth),
        "popularity": top_k_accuracy(np.tile(model.popularity, (len(th), 1)), truth),
    }
    body = "".join(f"<tr><td>{k}</td><td>{v['top1']:.3f}</td><td>{v['top5']:.3f}</td></tr>" for k, v in rows.items())
    return (
        f"<section id='short-term'><h2>What shoppers turn to next</h2><p>Next-interest accuracy, leave-one-out "
        f"({len(truth):,} users).</p><table><tr><th>predictor</th><th>top-1</th><th>top-5</th></tr>{body}</table>"
        "</section>"
    )

"""How monitoring writes what it measures, for people: metric names, values in their units,
windows and the sentence an alert reads as. Written once here and read the same by the page,
`loopline monitor` / `loopline alerts`, the webhooks and the notes monitoring adds to an alert's
timeline. The stored metric keys (``drift.score``, ``error_rate``) stay what scripts read."""

from __future__ import annotations

from datetime import datetime

DATE_FORMAT = "%Y-%m-%d"  # every date monitoring writes (hour windows add the time)
HOUR_FORMAT = "%Y-%m-%d %H:%M"

NAMES = {
    "volume": "predictions",
    "error_rate": "error rate",
    "latency_p50_ms": "latency p50",
    "latency_p95_ms": "latency p95",
    "latency_p99_ms": "latency p99",
    "labeled": "labeled predictions",
    "accuracy": "realized accuracy",
    "f1_macro": "macro F1",
    "drift.score": "drift score",
    "drift.share": "share of inputs drifted",
}
PER_CLASS = {  # metric.<class>
    "precision": "precision of {}",
    "recall": "recall of {}",
    "f1": "F1 of {}",
    "class_share": "share of {} predictions",
}
PER_FEATURE = {  # drift.<statistic>.<feature>
    "psi": "PSI of {}",
    "js": "JS distance of {}",
    "ks": "KS of {}",
    "ks_p": "KS p of {}",
    "chi2_p": "χ² p of {}",
    "novelty": "unseen tokens in {}",
}
BOUNDS = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}
COUNTS = ("volume", "labeled")  # figures that are counts: "84 predictions"


def metric_name(metric: str) -> str:
    """``error_rate`` → "error rate", ``estimated.precision.ooo`` → "estimated precision of
    ooo", ``drift.psi.language`` → "PSI of language"; a key it does not know, as written."""
    if metric.startswith("estimated."):
        return "estimated " + metric_name(metric.removeprefix("estimated.")).removeprefix(
            "realized "
        )
    if metric in NAMES:
        return NAMES[metric]
    head, _, rest = metric.partition(".")
    if head == "drift" and rest:
        statistic, _, feature = rest.partition(".")
        if feature and statistic in PER_FEATURE:
            return PER_FEATURE[statistic].format(feature)
    if rest and head in PER_CLASS:
        return PER_CLASS[head].format(rest)
    return metric


def named(metric: str, slice_name: str = "") -> str:
    """A metric on its slice, as tables and headers list it: ``realized accuracy [language =
    de]``."""
    return metric_name(metric) + (f" [{slice_name}]" if slice_name else "")


def _percent(metric: str) -> bool:
    return metric in ("error_rate", "drift.share") or metric.startswith("class_share.")


def value_text(metric: str, value: float | None, *, exact: bool = False) -> str:
    """A figure in its unit: ``1.2%`` (a rate), ``3.0 ms``, ``84`` (a count), else three
    significant digits; ``exact`` writes a threshold as it was set (``1%``, ``1,000 ms``,
    ``0.8716``)."""
    if value is None or value != value:
        return "—"
    if _percent(metric):
        return f"{value * 100:g}%" if exact else f"{value:.1%}"
    if metric.endswith("_ms"):
        return f"{value:,g} ms" if exact else f"{value:,.1f} ms"
    if metric in COUNTS:
        return f"{value:,.0f}"
    return f"{value:g}" if exact else f"{value:.3g}"


def figure_text(metric: str, value: float) -> str:
    """One figure of a window: ``84 predictions``, ``error rate 0.0%``, ``latency p95 3.0 ms``,
    ``realized accuracy 0.871``."""
    if metric in COUNTS:
        return f"{value:,.0f} {metric_name(metric)}"
    if metric == "drift.share":
        return f"{value:.0%} of inputs drifted"
    if _percent(metric) or metric.endswith("_ms"):
        return f"{metric_name(metric)} {value_text(metric, value)}"
    return f"{metric_name(metric)} {value:.3f}"


def figures_text(figures: dict[str, float]) -> str:
    """``84 predictions · error rate 0.0% · latency p95 3.0 ms · 73 labeled predictions · …``."""
    return " · ".join(figure_text(metric, value) for metric, value in figures.items())


def window_date(grain: str, start: datetime) -> str:
    """``2026-09-21`` (a day or week's start), ``2026-09-21 13:00`` (an hour)."""
    return f"{start:{HOUR_FORMAT if grain == 'hour' else DATE_FORMAT}}"


def window_text(grain: str, start: datetime) -> str:
    """A window as a label: ``week of 2026-09-21``, ``2026-09-21`` (a day), ``2026-09-21
    13:00`` (an hour)."""
    return f"week of {window_date(grain, start)}" if grain == "week" else window_date(grain, start)


def window_phrase(grain: str, start: datetime) -> str:
    """A window in a sentence: ``the week of 2026-09-21``, ``the day of 2026-09-21``, ``the hour
    of 2026-09-21 13:00``."""
    return f"the {grain} of {window_date(grain, start)}"


def windows_phrase(grain: str, first: datetime, windows: int) -> str:
    """Where an alert held: ``in the week of 2026-08-10``, ``in 3 week windows from 2026-08-10``."""
    if windows == 1:
        return f"in {window_phrase(grain, first)}"
    return f"in {windows:,} {grain} windows from {window_date(grain, first)}"


def bound_text(
    metric: str, comparator: str, threshold: float, reference: float | None = None
) -> str:
    """What the rule expects, in the metric's unit: ``above 1%``, ``more than 0.05 below the
    model's evaluated 0.92``."""
    if comparator == "drop":
        evaluated = "—" if reference is None else value_text(metric, reference)
        return (
            f"more than {value_text(metric, threshold, exact=True)} below the model's "
            f"evaluated {evaluated}"
        )
    return f"{BOUNDS.get(comparator, comparator)} {value_text(metric, threshold, exact=True)}"


def alert_sentence(
    metric: str,
    slice_name: str,
    value: float | None,
    comparator: str,
    threshold: float,
    reference: float | None,
    grain: str,
    first_window: datetime,
    windows: int,
) -> str:
    """What went wrong: ``realized accuracy on language = de was 0.846 in 2 week windows from
    2026-08-10, below 0.8716``."""
    about = metric_name(metric) + (f" on {slice_name}" if slice_name else "")
    was = "no figure" if value is None else value_text(metric, value)
    when = windows_phrase(grain, first_window, windows)
    return f"{about} was {was} {when}, {bound_text(metric, comparator, threshold, reference)}"


def capitalized(text: str) -> str:
    """The first letter up (a sentence on its own); the rest as written."""
    return text[:1].upper() + text[1:]

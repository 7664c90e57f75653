"""Which inputs drifted in a window, ranked by the same rule that ticks them.

One score per feature decides both its tick and its place: the PSI when the feature's own test
says the distribution changed (KS for numbers, χ² for categories, p < 0.05), else 0 — the figure
the heatmap draws and whose largest value is the window's ``drift.score``; a text field scores
the share of unseen tokens above the training data's own. A feature is *drifted* when its score
reaches 0.1, so every ticked feature ranks above every unticked one, and a large PSI on a
handful of rows (its test not significant) is not ranked above a real shift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.monitoring.drift import NOVELTY_DRIFT, SIGNIFICANCE, significant
from core.monitoring.stats import DRIFT_THRESHOLDS

PSI_DRIFT = DRIFT_THRESHOLDS["psi"]
RULE = (
    f"drifted when its score reaches {PSI_DRIFT:g}: the PSI when the feature's test is "
    f"significant (KS for numbers, χ² for categories, p < {SIGNIFICANCE:g}), else 0; text: the "
    f"share of unseen tokens above the training data's ({NOVELTY_DRIFT:g} or more)"
)
NOT_APPLICABLE = "—"  # how a table writes a statistic that does not apply to an input's kind
APPLIES = {  # where each statistic is computed; elsewhere it is NaN, written "—"
    "psi": "numbers and categories",
    "p": "numbers (KS test) and categories (χ² test)",
    "test": "numbers (KS) and categories (χ²)",
    "js": "numbers and categories",
    "ks": "numbers only",
    "novelty": "text fields only",
}
_WHAT = {
    "feature": "the model input (or `prediction`, the predicted class)",
    "score": f"what ranks and ticks the feature: PSI when its test is significant, else 0; "
    f"text: unseen-token share above the training data's. Drifted at {PSI_DRIFT:g} or more",
    "drifted": RULE,
    "n": "values of the feature in the window (tokens for text)",
    "psi": "population stability index vs the training data: 0.1 moderate, 0.25 large shift; "
    "noisy on few rows, so it counts only when the test is significant",
    "p": "p-value of the feature's test that the window comes from the training distribution "
    f"(KS for numbers, χ² for categories); below {SIGNIFICANCE:g}: it changed",
    "test": "the test that gives p: KS (numbers) or χ² (categories)",
    "js": "Jensen–Shannon distance of the shares (0 same, 1 disjoint)",
    "ks": "Kolmogorov–Smirnov statistic: the largest gap between the two cumulative shares",
    "novelty": "text fields: share of the window's tokens never seen in the training data",
}
COLUMN_HELP = {  # each column of the drift table explained, and where its statistic applies
    name: f"{text}. Computed for {APPLIES[name]}; {NOT_APPLICABLE} elsewhere"
    if name in APPLIES
    else text
    for name, text in _WHAT.items()
}


def p_value(statistics: Mapping[str, Any]) -> float | None:
    """The p-value of the feature's own test (KS for numbers, χ² for categories), if any."""
    for key in ("ks_p", "chi2_p"):
        value = statistics.get(key)
        if value is not None and value == value:
            return float(value)
    return None


def score(statistics: Mapping[str, Any]) -> float:
    """The feature's drift score: PSI when its test is significant (else 0); text: unseen-token
    share above the reference's."""
    if statistics.get("psi") is not None:  # the test that ticks it: core.monitoring.drift's
        psi = float(statistics["psi"])
        return psi if psi == psi and significant(statistics) else 0.0
    novelty = statistics.get("novelty")
    if novelty is not None and novelty == novelty:
        return max(0.0, float(novelty) - float(statistics.get("novelty_reference") or 0.0))
    return 0.0


def drifted(statistics: Mapping[str, Any]) -> bool:
    """Ticked: its score reaches the threshold of its kind (PSI 0.1; unseen tokens 0.1)."""
    limit = PSI_DRIFT if statistics.get("psi") is not None else NOVELTY_DRIFT
    return score(statistics) >= limit


def ranked(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Drift rows (``feature``, ``n`` and the statistics) with their ``score``, ``drifted`` and
    ``p``, highest score first; ties: the smaller p-value, then the larger PSI, then the name."""
    out = []
    for row in rows:
        row = dict(row)
        row.update(score=score(row), drifted=drifted(row), p=p_value(row))
        out.append(row)
    return sorted(
        out,
        key=lambda r: (
            -r["score"],
            1.0 if r["p"] is None else r["p"],
            -float(r.get("psi") or 0.0),
            str(r.get("feature", "")),
        ),
    )


def table_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Ranked rows as a table shows them: score, drifted, n, PSI, p and its test, JS, KS and
    unseen-token share (absent statistics as None)."""
    shown = []
    for row in ranked(rows):
        test = (
            "KS" if row.get("ks_p") is not None else "χ²" if row.get("chi2_p") is not None else None
        )
        shown.append(
            {
                "feature": row.get("feature"),
                "score": row["score"],
                "drifted": row["drifted"],
                "n": row.get("n"),
                "psi": row.get("psi"),
                "p": row["p"],
                "test": test,
                "js": row.get("js"),
                "ks": row.get("ks"),
                "novelty": row.get("novelty"),
            }
        )
    return shown

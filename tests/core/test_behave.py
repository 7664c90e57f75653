"""Each perturbation and expectation kind, the dates they read and write, and the suite file's
refusals (exact messages). No workspace: configs and plain rows."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
import yaml

from core.behave.dates import STYLES, parse_date, render_date
from core.behave.expect import (
    REWRITTEN,
    LabelIs,
    LabelUnchanged,
    Outcome,
    ScoreMoves,
    SpanFound,
    SpanKept,
)
from core.behave.models import BehaveResult
from core.behave.perturb import (
    PERTURBATIONS,
    Casing,
    DateFormat,
    Jitter,
    Missing,
    QuotedThread,
    Relabel,
    Shift,
    Signature,
    SwapEmail,
    SwapName,
    Translate,
    Whitespace,
)
from core.behave.suite import parse_suite
from core.errors import InvalidInput
from core.projects.service import load_spec_file
from core.spans.detect import Span

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
OOO = load_spec_file(SAMPLE / "ooo-replies" / "project.yaml")[0]
HW = load_spec_file(SAMPLE / "hw-triage" / "project.yaml")[0]
BODY = (
    "Hello,\nI am out of the office and will be back on August 14, 2026.\n"
    "For urgent matters contact Mark Price (mark.price@brightview.com).\nBest regards,\nPriya"
)
UNIT = {"region": "NA", "temp_max_c": 60.0, "reboot_count": 4.0, "crc_error_rate": 0.001}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-08-14", date(2026, 8, 14)),
        ("14.08.2026", date(2026, 8, 14)),
        ("14.8.", date(2026, 8, 14)),
        ("10/08", date(2026, 8, 10)),
        ("Aug 14", date(2026, 8, 14)),
        ("August 14, 2026", date(2026, 8, 14)),
        ("Wednesday 12 August", date(2026, 8, 12)),
        ("Friday, 14th of August", date(2026, 8, 14)),
        ("20. August", date(2026, 8, 20)),
        ("Mittwoch, 12.08.", date(2026, 8, 12)),
        ("le 14 août", date(2026, 8, 14)),
        ("31.02.2026", None),
        ("next week", None),
    ],
)
def test_dates_are_read_as_written(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_every_style_reads_back_as_the_same_date() -> None:
    day = date(2026, 9, 3)
    for style in STYLES:
        assert parse_date(render_date(day, style)) == day, style
    assert render_date(day, "de") == "3. September 2026"
    assert render_date(day, "fr") == "3 septembre 2026"


def _apply(perturbation, row, spec=OOO, seed=1):
    return perturbation.apply(row, random.Random(seed), spec)


def test_text_perturbations() -> None:
    row = {"subject": "Out of Office", "body": BODY}
    assert _apply(Casing("upper"), row)[0]["body"] == BODY.upper()
    spaced = _apply(Whitespace(), row)[0]["body"]
    assert spaced.split() == BODY.split() and spaced != BODY
    assert _apply(Signature(("--\nSent from my phone",)), row)[0]["body"].endswith(
        "\n\n--\nSent from my phone"
    )
    assert (
        "wrote:" in _apply(QuotedThread(), row)[0]["body"]
        or "Original Message" in (_apply(QuotedThread(), row)[0]["body"])
    )
    german, vars = _apply(DateFormat(("de",)), row)
    assert "back on 14. August 2026." in german["body"]
    assert vars == {"date": "14. August 2026", REWRITTEN + "August 14, 2026": "14. August 2026"}
    swapped, vars = _apply(SwapEmail(("a.dubois@soleil.fr",)), row)
    assert "(a.dubois@soleil.fr)" in swapped["body"] and vars == {"email": "a.dubois@soleil.fr"}
    named, vars = _apply(SwapName(("Jonas Becker",)), row)
    assert "contact Jonas Becker (" in named["body"] and vars == {"name": "Jonas Becker"}
    translated, vars = _apply(Translate(), row)
    assert "I am nicht im Büro and" in translated["body"] and vars == {"phrase": "nicht im Büro"}


def test_a_text_perturbation_with_nothing_to_change_skips_the_example() -> None:
    row = {"subject": "Hi", "body": "Is there an API?"}
    for perturbation in (DateFormat(), SwapEmail(), SwapName(), Translate()):
        assert _apply(perturbation, row) is None, perturbation


def test_table_perturbations() -> None:
    jittered, _ = _apply(Jitter("temp_max_c", 0.5), UNIT, HW)
    assert abs(jittered["temp_max_c"] - 60.0) <= 0.5 and jittered["temp_max_c"] != 60.0
    assert _apply(Jitter("reboot_count", 1.4), UNIT, HW)[0]["reboot_count"] in (3.0, 4.0, 5.0)
    relative = _apply(Jitter("crc_error_rate", 0.1, relative=True), UNIT, HW)[0]
    assert abs(relative["crc_error_rate"] - 0.001) <= 0.0001
    assert _apply(Shift("reboot_count", 8), UNIT, HW) == (
        {**UNIT, "reboot_count": 12.0},
        {"value": "12"},
    )
    relabelled = _apply(Relabel("region"), UNIT, HW)[0]["region"]
    assert relabelled in ("EMEA-N", "EMEA-S", "LATAM", "APAC")
    assert _apply(Relabel("region", {"NA": "LATAM"}), UNIT, HW)[0]["region"] == "LATAM"
    assert _apply(Relabel("region", {"APAC": "NA"}), UNIT, HW) is None
    assert _apply(Missing("crc_error_rate"), UNIT, HW)[0]["crc_error_rate"] is None
    assert _apply(Missing("temp_mean_c"), UNIT, HW) is None


def test_perturbations_are_seeded() -> None:
    row = {"body": BODY}
    assert _apply(Whitespace(), row, seed=5) == _apply(Whitespace(), row, seed=5)
    assert _apply(Jitter("temp_max_c", 3.0), UNIT, HW, 5) == _apply(
        Jitter("temp_max_c", 3.0), UNIT, HW, 5
    )


def _outcome(label: str, score: float, *spans: Span) -> Outcome:
    return Outcome(label, {"out_of_office": score, "not_out_of_office": 1 - score}, spans)


def test_expectations() -> None:
    date_span = Span(10, 24, "RETURN_DATE", "14. August 2026")
    before = _outcome("out_of_office", 0.9, Span(0, 15, "RETURN_DATE", "August 14, 2026"))
    after = _outcome("not_out_of_office", 0.4, date_span)
    assert LabelIs("out_of_office").judge(None, before, {}) is None
    assert LabelIs("out_of_office").judge(None, after, {}) == "label not_out_of_office"
    assert LabelUnchanged().judge(before, before, {}) is None
    assert LabelUnchanged().judge(before, after, {}) == "label out_of_office → not_out_of_office"
    assert (
        SpanFound("RETURN_DATE", "{date}").judge(None, after, {"date": "14. August 2026"}) is None
    )
    assert (
        SpanFound("RETURN_DATE", "{date}").judge(None, after, {"date": "15.08.2026"})
        == "RETURN_DATE: '14. August 2026'"
    )
    assert SpanFound("CONTACT").judge(None, after, {}) == "CONTACT: none"
    rewritten = {REWRITTEN + "August 14, 2026": "14. August 2026"}
    assert SpanKept("RETURN_DATE").judge(before, after, rewritten) is None
    assert (
        SpanKept("RETURN_DATE").judge(before, _outcome("out_of_office", 0.9), rewritten)
        == "RETURN_DATE: none (lost '14. August 2026')"
    )
    assert ScoreMoves("out_of_office", "down").judge(before, after, {}) is None
    assert ScoreMoves("out_of_office", "up").judge(before, after, {}) == (
        "score of out_of_office 0.900 → 0.400"
    )
    assert ScoreMoves("out_of_office", "down", by=0.6).judge(before, after, {}) == (
        "score of out_of_office 0.900 → 0.400"
    )
    assert ScoreMoves("out_of_office", "up").judge(before, before, {}) is not None  # no move


def test_a_result_carries_its_wilson_interval_and_verdict() -> None:
    result = BehaveResult("t", "mft", "", "label is x", 20, 18, 0.9)
    assert result.pass_rate == 0.9 and result.passed
    assert result.interval.lower == pytest.approx(0.699, abs=1e-3)
    assert result.interval.upper == pytest.approx(0.972, abs=1e-3)
    assert result.text() == "18/20 passed (0.900; n = 20, 95% CI 0.699–0.972), ≥ 0.9"
    assert not BehaveResult("t", "mft", "", "", 0, 0, 0.5).passed  # no example: failed


def test_the_built_in_suites_parse() -> None:
    for spec in (OOO, HW):
        data = yaml.safe_load((SAMPLE / spec.name / "behave.yaml").read_text(encoding="utf-8"))
        suite = parse_suite(data, "behave.yaml", spec)
        assert {t.kind for t in suite.tests} >= {"mft", "inv"}
    assert set(PERTURBATIONS) == {
        "casing", "whitespace", "signature", "quoted_thread", "date_format", "swap_name",
        "swap_email", "translate", "jitter", "shift", "relabel", "missing",
    }  # fmt: skip


def _suite(test: dict, spec=OOO):
    return parse_suite({"tests": [{"name": "t", **test}]}, "s.yaml", spec)


TEMPLATE = {"template": {"body": "back on {date}"}, "fill": {"date": ["May 5"]}}


@pytest.mark.parametrize(
    ("test", "spec", "message"),
    [
        ({"type": "x", "examples": TEMPLATE, "expect": {"label": "out_of_office"}}, OOO,
         "s.yaml: tests[0].type: Unknown test type 'x'. Expected one of: dir, inv, mft."),
        ({"type": "mft", "examples": TEMPLATE, "perturb": {"kind": "casing"},
          "expect": {"label": "out_of_office"}}, OOO,
         "s.yaml: tests[0]: a minimum functionality test (mft) takes no perturbation."),
        ({"type": "inv", "examples": {"test_set": 5}, "expect": {"label_unchanged": True}}, OOO,
         "s.yaml: tests[0]: an invariance test (inv) needs a perturbation (perturb)."),
        ({"type": "inv", "examples": {"test_set": 5}, "perturb": {"kind": "jitter"},
          "expect": {"label_unchanged": True}}, OOO,
         "s.yaml: tests[0].perturb.kind: 'jitter' is not for text_classification projects. "
         "Expected one of: casing, date_format, quoted_thread, signature, swap_email, swap_name, "
         "translate, whitespace."),
        ({"type": "inv", "examples": {"test_set": 5}, "perturb": {"kind": "shout"},
          "expect": {"label_unchanged": True}}, OOO,
         "s.yaml: tests[0].perturb.kind: Unknown perturbation 'shout'. Expected one of: casing, "
         "date_format, jitter, missing, quoted_thread, relabel, shift, signature, swap_email, "
         "swap_name, translate, whitespace."),
        ({"type": "inv", "examples": {"test_set": 5},
          "perturb": {"kind": "date_format", "to": ["klingon"]},
          "expect": {"label_unchanged": True}}, OOO,
         "s.yaml: tests[0].perturb.to: Unknown date style 'klingon'. Expected one of: de, de_short, "
         "dotted, dotted_short, en, en_day_first, en_short, fr, fr_le, iso, slashed."),
        ({"type": "inv", "examples": {"test_set": 5},
          "perturb": {"kind": "jitter", "column": "temp", "tolerance": 1},
          "expect": {"label_unchanged": True}}, HW, None),
        ({"type": "mft", "examples": TEMPLATE, "expect": {"label": "ooo"}}, OOO,
         "s.yaml: tests[0].expect[0].label: Unknown label 'ooo'. Expected one of: "
         "not_out_of_office, out_of_office."),
        ({"type": "mft", "examples": TEMPLATE, "expect": {"span": "RETURN_DATE", "text": "{day}"}},
         OOO, "s.yaml: tests[0].expect[0].text: {day} is put in by neither the template nor the "
         "perturbation. Expected one of: date."),
        ({"type": "mft", "examples": TEMPLATE, "expect": {"label_unchanged": True}}, OOO,
         "s.yaml: tests[0].expect: label_unchanged and score compare with the unperturbed "
         "example; a minimum functionality test has none."),
        ({"type": "mft", "examples": {"template": {"mood": "x"}},
          "expect": {"label": "out_of_office"}},
         OOO, None),
        ({"type": "inv", "examples": {"test_set": 0}, "perturb": {"kind": "casing"},
          "expect": {"label_unchanged": True}}, OOO,
         "s.yaml: tests[0].examples.test_set: expected a whole number from 1 to 1000, got 0."),
        ({"type": "dir", "examples": {"test_set": 5},
          "perturb": {"kind": "shift", "column": "alarms_power", "by": 3},
          "expect": {"score": "hardware_fault", "moves": "sideways"}}, HW,
         "s.yaml: tests[0].expect[0].moves: Unknown direction 'sideways'. Expected one of: "
         "down, up."),
        ({"type": "inv", "examples": {"test_set": 5}, "perturb": {"kind": "casing"},
          "expect": {"label_unchanged": True}, "min_pass_rate": 1.5}, OOO,
         "s.yaml: tests[0].min_pass_rate: expected a share from 0 to 1, got 1.5."),
    ],
)  # fmt: skip
def test_a_bad_suite_is_refused_by_its_place(test: dict, spec, message: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        _suite(test, spec)
    if message is None:  # an unknown column: the message lists the project's columns
        assert "Unknown column" in str(refused.value)
        assert refused.value.message.startswith("s.yaml: tests[0]")
    else:
        assert refused.value.message == message


def test_a_suite_needs_tests_with_distinct_names() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_suite({"checks": []}, "s.yaml", OOO)
    assert refused.value.message == "s.yaml: expected a mapping with a list of 'tests'."
    one = {"name": "a", "type": "mft", "examples": TEMPLATE, "expect": {"label": "out_of_office"}}
    with pytest.raises(InvalidInput) as refused:
        parse_suite({"tests": [one, one]}, "s.yaml", OOO)
    assert refused.value.message == "s.yaml: test names must differ; used twice: a."


def test_a_requirement_checked_in_the_gate_reads_a_tests_pass_rate() -> None:
    """27/30 against ≥ 0.95 straddles the threshold (95% CI 0.744–0.965): inconclusive, which
    fails the build only where the gate says so; 20/30 is clearly below: violated."""
    from core.builds.gate import MeetsRequirements, MinPassRate
    from core.ml.evaluate import Evaluation
    from core.requirements.rules import Rule

    german = BehaveResult("German dates", "mft", "return dates", "label is x", 30, 27, 0.9)
    rule = Rule("ML-9", "behave_pass_rate", ">=", 0.95, slices=("test = German dates",))
    candidate = Evaluation({}, {}, {}, [], [])
    [result] = MeetsRequirements(rules=(rule,), behave=(german,)).run(candidate, None, OOO)
    assert (result.value, result.passed, result.slice) == (0.9, True, "test = German dates")
    assert "inconclusive (passes: not a protected slice)" in result.message
    strict = MeetsRequirements(rules=(rule,), behave=(german,), inconclusive="fail")
    [result] = strict.run(candidate, None, OOO)
    assert not result.passed and "inconclusive (fails the build)" in result.message
    poor = BehaveResult("German dates", "mft", "return dates", "label is x", 30, 20, 20 / 30)
    [result] = MeetsRequirements(rules=(rule,), behave=(poor,)).run(candidate, None, OOO)
    assert not result.passed and ": violated" in result.message
    [check] = MinPassRate(results=(german,), suite="s.yaml").run(candidate, None, OOO)
    assert (
        check.passed and check.message == "27/30 passed (0.900; n = 30, 95% CI 0.744–0.965) ≥ 0.9"
    )

"""How an item looks to an annotator: an e-mail with highlighted spans, or a unit's feature card."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from core.api.types import ProjectSpec, Span

SPAN_COLORS = ["#ffe08a", "#b5e3ff", "#c8f7c5", "#ffc9de", "#e2d4ff"]


def highlighted(
    text: str, chosen: Sequence[Span], suggested: Sequence[Span], types: Sequence[str]
) -> str:
    """HTML of ``text`` (every part escaped) with chosen spans filled and suggested ones underlined."""
    marks: list[tuple[int, int, str, str]] = []
    for span in suggested:
        if not any(s.start < span.end and span.start < s.end for s in chosen):
            marks.append(
                (
                    span.start,
                    span.end,
                    "border-bottom:2px dashed #c48a00;",
                    f"suggested {span.type}",
                )
            )
    for span in chosen:
        color = (
            SPAN_COLORS[types.index(span.type) % len(SPAN_COLORS)] if span.type in types else "#eee"
        )
        marks.append(
            (
                span.start,
                span.end,
                f"background:{color};border-radius:3px;padding:0 2px;",
                span.type,
            )
        )
    marks.sort()
    out, cursor = [], 0
    for start, end, style, title in marks:
        if start < cursor:
            continue
        out.append(html.escape(text[cursor:start]))
        badge = (
            ""
            if title.startswith("suggested")
            else (f'<sup style="font-size:0.65em;color:#555"> {html.escape(title)}</sup>')
        )
        out.append(
            f'<span style="{style}" title="{html.escape(title)}">{html.escape(text[start:end])}{badge}</span>'
        )
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out).replace("\n", "<br>")


def text_card(
    spec: ProjectSpec, fields: Mapping[str, Any], chosen: Sequence[Span], suggested: Sequence[Span]
) -> None:
    span_field = spec.labels.spans.field if spec.labels.spans else None
    types = list(spec.labels.spans.types) if spec.labels.spans else []
    with st.container(border=True):
        for name in spec.text_fields:
            value = str(fields.get(name) or "")
            if name == span_field:
                st.markdown(
                    f'<div style="font-family:inherit;line-height:1.55">'
                    f"{highlighted(value, chosen, suggested, types)}</div>",
                    unsafe_allow_html=True,
                )
            else:
                st.markdown(f"**{html.escape(value)}**", unsafe_allow_html=True)
        context = [
            f"{c.name}: {fields.get(c.name)}"
            for c in spec.columns
            if c.name not in spec.text_fields
            and c.name != spec.id_column
            and fields.get(c.name) is not None
        ]
        st.caption(" · ".join(context))


def unit_card(spec: ProjectSpec, fields: Mapping[str, Any], unusual: Mapping[str, str]) -> None:
    groups = dict(spec.feature_groups) or {"Features": spec.features}
    with st.container(border=True):
        columns = st.columns(len(groups))
        for column, (title, members) in zip(columns, groups.items(), strict=True):
            column.markdown(f"**{title}**")
            for name in members:
                value = fields.get(name)
                shown = (
                    "—"
                    if value is None or value != value
                    else (f"{value:,.3g}" if isinstance(value, float) else str(value))
                )
                if name in unusual:
                    column.markdown(f"{name}: :red[**{shown}**]", help=unusual[name])
                else:
                    column.markdown(f"{name}: {shown}")
        if unusual:
            st.caption(
                "Red: unusual for this "
                + (spec.compare_within or "dataset")
                + " — hover for the typical range."
            )

"""The annotator's panel: one item, its suggestion, spans, and one button (and key) per class."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from app.components.items import text_card, unit_card
from app.components.words import plural
from app.deps import forget, kept
from core.api import Client, CoreError
from core.api.types import Project, QueueItem, Span, Task

KEY = "labeling"


def _state(item: QueueItem) -> dict[str, Any]:
    """Per-item answer state: the spans chosen so far and when the item was first shown."""
    key = f"{KEY}.answer.{item.task_id}.{item.item_id}"
    if key not in st.session_state:
        st.session_state[key] = {"spans": [], "shown": time.monotonic()}
    return st.session_state[key]  # type: ignore[no-any-return]


def _forget(item: QueueItem) -> None:
    st.session_state.pop(f"{KEY}.answer.{item.task_id}.{item.item_id}", None)
    for key in [k for k in st.session_state if str(k).startswith(f"{KEY}.suggested.")]:
        del st.session_state[key]
    for key in (f"{KEY}.unsure", f"{KEY}.note", f"{KEY}.span_text"):
        st.session_state.pop(key, None)


def _save(api: Client, item: QueueItem, label: str) -> None:
    state = _state(item)
    chosen = list(state["spans"]) + [
        span
        for i, span in enumerate(item.suggestion.spans)
        if st.session_state.get(f"{KEY}.suggested.{i}")
    ]
    try:
        api.labeling.answer(
            item.task_id,
            item.item_id,
            label,
            spans=sorted(set(chosen)),
            unsure=bool(st.session_state.get(f"{KEY}.unsure")),
            note=str(st.session_state.get(f"{KEY}.note") or ""),
            seconds=round(time.monotonic() - state["shown"], 1),
        )
    except CoreError as error:
        st.session_state[f"{KEY}.error"] = error.message
        return
    forget()  # the review queue and agreement of this task changed
    st.session_state[f"{KEY}.saved"] = f"Saved {item.item_id} as {label}."
    _forget(item)


def _skip(api: Client, item: QueueItem) -> None:
    api.labeling.skip(
        item.task_id, item.item_id, note=str(st.session_state.get(f"{KEY}.note") or "")
    )
    forget()
    st.session_state[f"{KEY}.saved"] = f"Skipped {item.item_id}."
    _forget(item)


def _undo(api: Client, task_id: int) -> None:
    back = api.labeling.undo(task_id)
    forget()
    if back is None:
        st.session_state[f"{KEY}.saved"] = "Nothing to undo: you have no answer or skip here."
        return
    mine = [
        a for a in api.labeling.item_history(task_id, back.item_id) if a.annotator == api.actor.name
    ]
    taken = mine[-2].status if len(mine) >= 2 else "labeled"  # the last one is the retraction
    st.session_state[f"{KEY}.saved"] = (
        f"Took back your skip of {back.item_id}: it is shown again."
        if taken == "skipped"
        else f"Took back your answer on {back.item_id}: it is shown again."
    )


def release_focus(choice: object) -> None:
    """Move the keyboard focus out of a select the user just changed (a select keeps it, so
    pressing 1 would type into its search box); the buttons' keys then work at once."""
    # Choosing an option with the mouse, even the one already chosen (no rerun then), blurs too.
    # A closed select that still holds the focus lets it go; an open one (being used) is left.
    idle_select = (
        "(el) => el && el !== document.body && el.closest('[data-testid=stSelectbox]')"
        " && el.getAttribute('aria-expanded') !== 'true'"
    )
    st.html(
        "<script>/* keys after a choice */ if (!window.looplineBlurOnChoice) {"
        f" const idle = {idle_select};"
        " window.looplineBlurOnChoice = true;"
        " document.addEventListener('click', (event) => {"
        " if (!(event.target.closest && event.target.closest('[role=option]'))) return;"
        " const chosen = document.activeElement;"
        " setTimeout(() => { const el = document.activeElement;"
        " if (el === chosen && idle(el)) el.blur(); }, 80); }, true); }</script>",
        unsafe_allow_javascript=True,
        width="content",
    )
    key = f"{KEY}.focus_for"
    if st.session_state.get(key) == choice:
        return
    st.session_state[key] = choice
    count = int(st.session_state.get(f"{KEY}.focus_count", 0)) + 1
    st.session_state[f"{KEY}.focus_count"] = count
    st.html(
        f"<script>/* release focus {count} */ setTimeout(() => {{"
        f" const idle = {idle_select}; const el = document.activeElement;"
        " if (idle(el)) el.blur(); }, 80);</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


def _add_span(item: QueueItem, text: str, field_text: str) -> None:
    wanted = str(st.session_state.get(f"{KEY}.span_text") or "")
    span_type = str(st.session_state.get(f"{KEY}.span_type"))
    starts = [i for i in range(len(field_text)) if wanted and field_text.startswith(wanted, i)]
    if not starts:
        st.session_state[f"{KEY}.error"] = (
            f"{wanted!r} does not occur in the text; copy it exactly."
        )
        return
    occurrence = int(st.session_state.get(f"{KEY}.span_occurrence") or 1)
    start = starts[min(occurrence, len(starts)) - 1]
    _state(item)["spans"].append(Span(start, start + len(wanted), span_type, wanted))
    st.session_state[f"{KEY}.span_text"] = ""


def _remove_span(item: QueueItem, index: int) -> None:
    _state(item)["spans"].pop(index)


def progress_row(api: Client, task: Task) -> None:
    progress = api.labeling.progress(task.task_id, api.actor.name)
    report = api.labeling.agreement_so_far(task.task_id)
    a, b, c, d = st.columns(4)
    a.metric("Items done", f"{progress.complete_items:,} / {progress.items:,}")
    b.metric("Items left", f"{progress.left_items:,}")
    c.metric(
        "My answers today", progress.mine_today, help=f"{progress.mine_total} in this task in all"
    )
    d.metric(
        "Agreement so far (α)",
        "—" if report.alpha is None else f"{report.alpha:.2f}",
        help=f"Krippendorff's alpha over {report.items_compared} items labeled by several people",
    )
    st.progress(progress.labels_done / max(1, progress.labels_needed))


def item_card(
    api: Client,
    task: Task,
    project: Project,
    fields: dict[str, Any] | Any,
    chosen: list[Span] | tuple[Span, ...] = (),
    suggested: tuple[Span, ...] = (),
) -> None:
    """The item as a person reads it: the text with its spans, or the unit's feature card."""
    spec = project.spec
    if spec.kind == "text_classification":
        text_card(spec, fields, chosen, suggested)
        return
    numeric = [
        c.name for c in spec.columns if c.type in ("integer", "number") and c.name in spec.features
    ]
    ranges = kept("data", "profile", task.dataset_id, numeric, spec.compare_within)
    unit_card(spec, fields, api.data.unusual(fields, ranges, spec.compare_within))


@st.fragment
def label_panel(api: Client, task: Task, project: Project) -> None:
    """One item at a time; answering shows the next without reloading the page."""
    progress_row(api, task)  # inside the fragment: it moves with every answer
    for flag, show in ((f"{KEY}.error", st.error), (f"{KEY}.saved", st.toast)):
        if flag in st.session_state:
            show(st.session_state.pop(flag))
    try:
        item = api.labeling.next_item(task.task_id)
    except CoreError as error:
        st.error(error.message)
        return
    if item is None:
        st.success("Nothing left for you in this task. Thank you!", icon="🎉")
        st.button(
            "Undo my last answer", key=f"{KEY}.undo", on_click=_undo, args=(api, task.task_id)
        )
        return
    spec = project.spec
    state = _state(item)
    chosen: list[Span] = state["spans"]
    st.markdown(
        f"**Item `{item.item_id}`** · needs {plural(item.required, 'answer')}, "
        f"has {item.labels_so_far}" + (" · resumed" if item.resumed else "")
    )
    if spec.kind == "text_classification":
        picked = [
            s
            for i, s in enumerate(item.suggestion.spans)
            if st.session_state.get(f"{KEY}.suggested.{i}")
        ]
        text_card(spec, item.fields, [*chosen, *picked], item.suggestion.spans)
    else:
        numeric = [
            c.name
            for c in spec.columns
            if c.type in ("integer", "number") and c.name in spec.features
        ]
        ranges = kept("data", "profile", task.dataset_id, numeric, spec.compare_within)
        unit_card(spec, item.fields, api.data.unusual(item.fields, ranges, spec.compare_within))
    if item.suggestion.label:
        st.info(
            f"Model suggests **{item.suggestion.label}** ({item.suggestion.probability:.0%})",
            icon="🤖",
        )
    if spec.labels.spans is not None:
        _span_editor(
            item, spec.labels.spans.types, str(item.fields.get(spec.labels.spans.field) or "")
        )
    left, right = st.columns([1, 3])
    left.checkbox("Unsure", key=f"{KEY}.unsure", help="Sends the item to a reviewer")
    right.text_input(
        "Note", key=f"{KEY}.note", placeholder="optional: why", label_visibility="collapsed"
    )
    buttons = st.columns(len(spec.labels.classes) + 2)
    for index, (column, label) in enumerate(zip(buttons, spec.labels.classes, strict=False)):
        column.button(
            label.replace("_", " "),
            key=f"{KEY}.class.{label}",
            shortcut=str(index + 1),
            width="stretch",
            type="primary" if label == item.suggestion.label else "secondary",
            on_click=_save,
            args=(api, item, label),
        )
    buttons[-2].button(
        "Skip",
        key=f"{KEY}.skip",
        shortcut="s",
        width="stretch",
        on_click=_skip,
        args=(api, item),
    )
    buttons[-1].button(
        "Undo",
        key=f"{KEY}.undo",
        shortcut="u",
        width="stretch",
        on_click=_undo,
        args=(api, task.task_id),
    )
    with st.expander("History of this item"):
        rows = [
            {
                "when": a.created_at,
                "who": a.annotator,
                "what": a.status,
                "label": a.label,
                "spans": len(a.spans),
                "unsure": a.unsure,
                "note": a.note,
            }
            for a in api.labeling.item_history(task.task_id, item.item_id)
        ]
        st.dataframe(rows, hide_index=True) if rows else st.caption("No answers yet.")


def _span_editor(item: QueueItem, types: tuple[str, ...], field_text: str) -> None:
    if item.suggestion.spans:
        st.caption("Suggested spans: tick the right ones.")
        columns = st.columns(min(4, len(item.suggestion.spans)))
        for index, span in enumerate(item.suggestion.spans):
            columns[index % len(columns)].checkbox(
                f"{span.type}: {span.text}", key=f"{KEY}.suggested.{index}"
            )
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.text_input(
            "Mark a span: its exact text", key=f"{KEY}.span_text", placeholder="e.g. June 12"
        )
        st.selectbox("Type", types, key=f"{KEY}.span_type")
        wanted = str(st.session_state.get(f"{KEY}.span_text") or "")
        count = field_text.count(wanted) if wanted else 0
        if count > 1:
            st.number_input(
                "Occurrence", 1, count, 1, key=f"{KEY}.span_occurrence", help=f"{count} matches"
            )
        st.button(
            "Add span", key=f"{KEY}.add_span", on_click=_add_span, args=(item, wanted, field_text)
        )
    for index, span in enumerate(_state(item)["spans"]):
        st.button(
            f"✕ {span.type}: {span.text}",
            key=f"{KEY}.remove.{index}",
            type="tertiary",
            on_click=_remove_span,
            args=(item, index),
        )

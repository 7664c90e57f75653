"""The parts of the Review & label sets page: review queue, agreement, freeze, interchange, new task."""

from __future__ import annotations

import io

import pandas as pd
import plotly.express as px
import streamlit as st

from app.components.labeling import item_card
from app.components.words import plural
from app.deps import attempt, cached, forget, kept
from core.api import Client
from core.api.types import (
    EXPORT_FORMATS,
    FREEZE_RULES,
    Project,
    ReviewCase,
    Span,
    Task,
    TaskFilter,
)


def review_tab(api: Client, task: Task, project: Project) -> None:
    cases, waiting = cached("labeling", "review_queue", task.task_id, limit=20)
    st.caption(
        f"{plural(waiting, 'item')} {'waits' if waiting == 1 else 'wait'} for a decision: "
        "disagreements first, then answers flagged unsure."
    )
    if not cases:
        st.success("Nothing to review in this task.", icon="✅")
        return
    case = st.selectbox(
        "Item", cases, key="review.case", format_func=lambda c: f"{c.item_id} · {c.reason}"
    )
    item_card(api, task, project, case.fields)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "annotator": a.annotator,
                    "label": a.label,
                    "spans": ", ".join(f"{s.type}: {s.text}" for s in a.spans),
                    "unsure": a.unsure,
                    "note": a.note,
                }
                for a in case.annotations
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    chosen = _chosen_spans(case)
    note = st.text_input("Reason (kept with the decision)", key="review.note")
    columns = st.columns(len(project.spec.labels.classes))
    for column, label in zip(columns, project.spec.labels.classes, strict=True):
        votes = [a for a in case.annotations if a.label == label]
        if column.button(f"Decide: {label}", key=f"review.decide.{label}", width="stretch"):
            spans = chosen if chosen is not None else (votes[0].spans if votes else ())
            if attempt(
                api.labeling.decide, task.task_id, case.item_id, label, spans=spans, note=note
            ):
                forget()
                st.toast(f"{case.item_id}: {label}")
                st.rerun()


SPAN_MODES = {"span": "Span by span", "item": "One annotator's spans"}


def _chosen_spans(case: ReviewCase) -> tuple[Span, ...] | None:
    """The spans the decision keeps, when annotators marked any: ticked one by one (those most
    annotators marked are ticked to begin with), or all of one annotator's."""
    if not case.span_votes:
        return None
    mode = st.radio(
        "Spans to keep",
        list(SPAN_MODES),
        key="review.span_mode",
        horizontal=True,
        format_func=SPAN_MODES.__getitem__,
    )
    if mode == "item":
        names = [a.annotator for a in case.annotations]
        who = st.selectbox("Spans of", names, key=f"review.span_from.{case.item_id}")
        return case.spans_of(str(who))
    majority = set(case.majority_spans())
    kept = []
    for index, vote in enumerate(case.span_votes):
        span = vote.span
        tick = st.checkbox(
            f"{span.type} · “{span.text}” ({span.start}–{span.end}) · marked by "
            f"{', '.join(vote.annotators)}",
            value=span in majority,
            key=f"review.span.{case.item_id}.{index}",
        )
        if tick:
            kept.append(span)
    return tuple(kept)


def agreement_tab(api: Client, task: Task, project: Project) -> None:
    slicing = [c.name for c in project.spec.columns if c.type == "category"]
    by = st.selectbox("Break down by", ["(none)", *slicing], key="review.agreement_by")
    report = attempt(
        lambda: cached("labeling", "agreement", [task.task_id], None if by == "(none)" else by)
    )
    if report is None:
        return
    if report.items_compared == 0:
        st.info("No item has answers from two people yet; agreement needs overlap.")
        return
    a, b, c = st.columns(3)
    a.metric("Krippendorff's α", f"{report.alpha:.2f}" if report.alpha is not None else "—")
    b.metric(
        "Items compared", report.items_compared, help=f"{report.disagreements} with disagreement"
    )
    c.metric(
        "Span agreement (exact / overlap)",
        "—"
        if report.span_exact_f1 is None
        else f"{report.span_exact_f1:.2f} / {report.span_overlap_f1:.2f}",
    )
    per_class = {k: v for k, v in report.alpha_by_class.items() if v is not None}
    if per_class:
        chart = px.bar(
            x=list(per_class),
            y=list(per_class.values()),
            labels={"x": "class", "y": "α"},
            range_y=[min(0, *per_class.values()), 1],
            height=260,
            title="Agreement per class",
        )
        st.plotly_chart(chart, key="review.per_class")
    if report.pairs:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "pair": f"{p.first} · {p.second}",
                        "items": p.items,
                        "Cohen's κ": round(p.kappa, 3),
                        "same answer": f"{p.agreement:.0%}",
                    }
                    for p in report.pairs
                ]
            ),
            hide_index=True,
        )
    if report.alpha_by_group:
        st.dataframe(
            pd.DataFrame(
                [
                    {by: g, "α": None if v is None else round(v, 3)}
                    for g, v in report.alpha_by_group.items()
                ]
            ),
            hide_index=True,
        )


def freeze_tab(api: Client, project: Project, tasks: list[Task], current: Task) -> None:
    st.caption(
        "Freezing makes an immutable, versioned label set; training only reads frozen label sets."
    )
    by_id = {t.task_id: t for t in tasks}
    chosen = st.multiselect(
        "Tasks",
        list(by_id),
        default=[current.task_id],
        key="review.freeze_tasks",
        format_func=lambda i: by_id[i].label,
    )
    rules = {"majority": "take the majority", "unanimous": "leave the item out"}
    rule = st.radio(
        "Where annotators disagree and no reviewer decided",
        FREEZE_RULES,
        horizontal=True,
        key="review.rule",
        format_func=rules.__getitem__,
    )
    previous = {
        a.artifact_id: a for a in api.artifacts.list(kind="label_set", project=project.name)
    }
    base = st.selectbox(
        "On top of",
        [0, *previous],
        key="review.extends",
        format_func=lambda i: previous[i].ref if i else "nothing (a fresh label set)",
    )
    note = st.text_input("Note", key="review.freeze_note")
    if st.button("Freeze label set", type="primary", key="review.freeze", disabled=not chosen):
        frozen = attempt(
            api.labeling.freeze, project.name, chosen, rule=rule, extends=base or None, note=note
        )
        if frozen:
            forget()
            st.success(
                f"{frozen.artifact.ref}: {plural(frozen.rows, 'item')} · {frozen.classes} · "
                f"left out {frozen.excluded}"
            )


def interchange_tab(api: Client, project: Project, task: Task) -> None:
    sets = api.artifacts.list(kind="label_set", project=project.name)
    if sets:
        left, right = st.columns(2)
        chosen = left.selectbox(
            "Label set", sets, key="review.export_set", format_func=lambda a: a.ref
        )
        fmt = right.selectbox("Format", EXPORT_FORMATS, key="review.export_format")
        suffix = {"csv": "csv", "jsonl": "jsonl", "label-studio": "json"}[fmt]
        st.download_button(
            "Download",
            lambda: kept("labeling", "export", chosen.artifact_id, fmt),  # made on the click
            file_name=f"{project.name}-labels-v{chosen.version}.{suffix}",
            key="review.download",
        )
    st.divider()
    import_form(api, project)


def import_form(api: Client, project: Project) -> None:
    """A Label Studio JSON export in, with its labeling config and a mapping of names; its items
    are created from the export when the project has none."""
    upload = st.file_uploader(
        "Import a Label Studio JSON export", type=["json"], key="review.import"
    )
    left, right = st.columns(2)
    config = left.file_uploader(
        "Its labeling config (optional)",
        type=["xml"],
        key="review.import_config",
        help="Label Studio: Settings → Labeling Interface → Code, saved as an .xml file",
    )
    mapping = right.file_uploader(
        "A mapping of names (optional)",
        type=["yaml", "yml"],
        key="review.import_mapping",
        help="YAML: classes: {Billing: billing}, span_types: {Date: RETURN_DATE}, item_id: FIELD, "
        "class_control: NAME (the <Choices> that holds the class, when the config has several)",
    )
    if upload is not None and st.button("Import", key="review.import_go"):
        task_name = f"Label Studio: {upload.name}"
        done = attempt(
            api.labeling.import_labels,
            project.name,
            upload.getvalue(),
            upload.name,
            task_name=task_name,
            config=config.getvalue() if config is not None else None,
            mapping=mapping.getvalue() if mapping is not None else None,
        )
        if done:
            forget()
            st.success(
                f"{plural(done.annotations, 'annotation')} on {plural(done.items, 'item')} into task "
                f"#{done.task_id} {task_name}."
            )
            for note in done.ignored:  # controls of the config with no counterpart here
                st.info(note)


def new_task_tab(api: Client, project: Project) -> None:
    spec = project.spec
    with st.form("review.new_task"):
        name = st.text_input(
            "Name", key="review.task_name", placeholder="e.g. August replies, German and French"
        )
        equals = {}
        categories = [c for c in spec.columns if c.type == "category"]
        columns = st.columns(max(1, len(categories)))
        for column, category in zip(columns, categories, strict=False):
            picked = column.multiselect(
                category.name, category.values or (), key=f"review.filter.{category.name}"
            )
            if picked:
                equals[category.name] = tuple(picked)
        left, right = st.columns(2)
        dates = left.date_input("Dates", value=(), key="review.dates") if spec.time_column else ()
        limit = right.number_input(
            "At most this many items (0 = all)", 0, 1_000_000, 500, key="review.limit"
        )
        a, b, c = st.columns(3)
        overlap = a.number_input("Annotators per item", 1, 5, 1, key="review.overlap")
        sample = b.slider(
            "Agreement sample",
            0.0,
            1.0,
            0.2,
            key="review.sample",
            help="fraction labeled by more people",
        )
        more = c.number_input("… by this many", 2, 5, 2, key="review.sample_overlap")
        untasked = st.checkbox("Only items in no other task", True, key="review.untasked")
        production = api.models.find_alias(project.name)
        use_model = st.checkbox(
            f"Suggest labels with {production.ref} and put the items it is least sure of first"
            if production
            else "Suggest labels with the production model (none yet)",
            value=production is not None,
            disabled=production is None,
            key="review.use_model",
        )
        instructions = st.text_area("Instructions for annotators", key="review.instructions")
        if st.form_submit_button("Create task", type="primary"):
            date_from, date_to = (str(dates[0]), str(dates[-1])) if len(dates) else (None, None)
            task_filter = TaskFilter(
                date_from=date_from,
                date_to=date_to,
                equals=equals,
                limit=int(limit) or None,
                untasked_only=untasked,
            )
            model = production.artifact_id if use_model and production else None
            task = attempt(
                api.labeling.create_task,
                project.name,
                name=name,
                task_filter=task_filter,
                overlap=int(overlap),
                agreement_sample=float(sample) if more > overlap else 0.0,
                agreement_overlap=int(more),
                instructions=instructions,
                suggest_with=model,
            )
            if task:
                forget()
                st.success(
                    f"Task {task.label} with {plural(task.items, 'item')} is open on the Labeling "
                    "page."
                )


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()

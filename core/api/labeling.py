"""Labeling: tasks, the annotator's queue (next, answer, skip, undo), progress, agreement,
review, freezing label sets, and label files in and out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.api.area import Area, OnUse
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.errors import InvalidInput
from core.labeling.models import (
    Annotation,
    QueueItem,
    Review,
    ReviewCase,
    Task,
    TaskFilter,
    TaskProgress,
)
from core.spans.detect import Span

if TYPE_CHECKING:
    import pandas as pd

    import core.labeling.agreement as labeling_agreement
    import core.labeling.freeze as labeling_freeze
    import core.labeling.interchange as labeling_interchange
else:  # tasks, queues and label files import datasets (pandas): by the methods that use them
    labeling_agreement = OnUse("core.labeling.agreement")
    labeling_freeze = OnUse("core.labeling.freeze")
    labeling_interchange = OnUse("core.labeling.interchange")

ALIASES = ("production", "candidate")


class Labeling(Area):
    # tasks
    def tasks(self, project: str | None = None) -> list[Task]:
        from core.labeling.tasks import list_tasks

        return list_tasks(self._ws, project)

    def task(self, task_id: int) -> Task:
        from core.labeling.tasks import get_task

        return get_task(self._ws, task_id)

    def create_task(
        self,
        project: str,
        *,
        name: str,
        dataset: int | str | None = None,
        task_filter: TaskFilter | None = None,
        overlap: int = 1,
        agreement_sample: float = 0.0,
        agreement_overlap: int = 2,
        suggest_with: int | str | None = None,
        predictions: Path | None = None,
        ordering: str | None = None,
        uncertainty: str = "least_confident",
        lease_seconds: int = 900,
        instructions: str = "",
    ) -> Task:
        """A labeling task over a dataset version (the latest by default). ``suggest_with``: a
        model version (or ``production``, ``candidate``) whose predictions are shown as
        suggestions; ``predictions``: a CSV of item_id and one column per class instead.
        ``ordering`` (random, uncertainty): by default the least sure items first when there are
        suggestions, else random."""
        from core.labeling.tasks import create_task
        from core.registry.service import predict_dataset

        model = self._suggesting_model(project, suggest_with)
        if model is not None:
            probabilities = predict_dataset(self._ws, model)
        else:
            probabilities = _read_predictions(predictions) if predictions is not None else None
        if ordering is None:
            ordering = "uncertainty" if probabilities is not None else "random"
        return create_task(
            self._ws,
            project,
            self._actor,
            name=name,
            dataset=dataset,
            task_filter=task_filter,
            overlap=overlap,
            agreement_sample=agreement_sample,
            agreement_overlap=agreement_overlap,
            ordering=ordering,
            uncertainty=uncertainty,
            probabilities=probabilities,
            model_id=model.artifact_id if model is not None else None,
            lease_seconds=lease_seconds,
            instructions=instructions,
        )

    def _suggesting_model(self, project: str, ref: int | str | None) -> Artifact | None:
        from core.registry.service import find_alias

        if ref is None:
            return None
        if ref not in ALIASES:
            return get_artifact(self._ws, ref)
        model = find_alias(self._ws, project, str(ref))
        if model is None:
            raise InvalidInput(f"Project {project!r} has no {ref} model yet.")
        return model

    # the annotator's queue
    def next_item(self, task_id: int) -> QueueItem | None:
        """The next item for the client's user (leased to them), None when nothing is left."""
        from core.labeling.queue import next_item

        return next_item(self._ws, task_id, self._actor)

    def answer(
        self,
        task_id: int,
        item_id: str,
        label: str,
        *,
        spans: Sequence[Span] = (),
        unsure: bool = False,
        note: str = "",
        seconds: float | None = None,
    ) -> Annotation:
        from core.labeling.queue import save_annotation

        return save_annotation(
            self._ws,
            task_id,
            item_id,
            self._actor,
            label,
            spans=spans,
            unsure=unsure,
            note=note,
            seconds=seconds,
        )

    def skip(self, task_id: int, item_id: str, note: str = "") -> Annotation:
        from core.labeling.queue import skip_item

        return skip_item(self._ws, task_id, item_id, self._actor, note=note)

    def undo(self, task_id: int) -> QueueItem | None:
        """Take back the user's last answer or skip in the task; the item it reopens, or None."""
        from core.labeling.queue import undo_last

        return undo_last(self._ws, task_id, self._actor)

    def item_history(self, task_id: int, item_id: str) -> list[Annotation]:
        from core.labeling.queue import item_history

        return item_history(self._ws, task_id, item_id)

    # progress and agreement
    def progress(self, task_id: int, annotator: str | None = None) -> TaskProgress:
        from core.labeling.progress import task_progress

        return task_progress(self._ws, task_id, annotator)

    def labels_left(self, task_ids: Sequence[int]) -> dict[int, int]:
        """How many answers each task still needs (items × the annotators each requires, minus
        those given)."""
        from core.labeling.progress import labels_left

        return labels_left(self._ws, task_ids)

    def left_for(self, task_ids: Sequence[int], annotator: str) -> dict[int, int]:
        """Items each task still has for ``annotator``."""
        from core.labeling.progress import left_for

        return left_for(self._ws, task_ids, annotator)

    def agreement(
        self, task_ids: Sequence[int], by: str | None = None
    ) -> labeling_agreement.AgreementReport:
        """Agreement over the tasks' current answers (``by``: per value of a dataset column);
        needs the right to read labeling."""
        from core.labeling.review import task_agreement

        return task_agreement(self._ws, task_ids, by)

    def agreement_so_far(self, task_id: int) -> labeling_agreement.AgreementReport:
        """The agreement an annotator sees beside their progress (the task's annotators, or
        anyone who may read labeling)."""
        from core.labeling.review import agreement_so_far

        return agreement_so_far(self._ws, task_id, self._actor)

    # review
    def review_queue(self, task_id: int, limit: int = 50) -> tuple[list[ReviewCase], int]:
        """Up to ``limit`` items waiting for a reviewer's decision, and how many wait in all."""
        from core.labeling.review import review_queue

        return review_queue(self._ws, task_id, limit)

    def decide(
        self,
        task_id: int,
        item_id: str,
        label: str,
        *,
        spans: Sequence[Span] = (),
        note: str = "",
    ) -> Review:
        from core.labeling.review import decide

        return decide(self._ws, task_id, item_id, self._actor, label, spans=spans, note=note)

    def freeze(
        self,
        project: str,
        task_ids: Sequence[int],
        *,
        rule: str = "majority",
        extends: int | str | None = None,
        note: str = "",
    ) -> labeling_freeze.FrozenLabelSet:
        """An immutable, versioned label set from the tasks' answers and decisions."""
        from core.labeling.freeze import freeze

        return freeze(
            self._ws, project, self._actor, task_ids, rule=rule, extends=extends, note=note
        )

    # label files
    def export(self, label_set: int | str, fmt: str) -> bytes:
        """A label set as csv, jsonl or a Label Studio JSON file."""
        from core.labeling.interchange import export_label_set

        return export_label_set(self._ws, label_set, fmt)

    def import_labels(
        self,
        project: str,
        data: bytes | Path,
        file_name: str | None = None,
        *,
        task_id: int | None = None,
        task_name: str | None = None,
        source: str | None = None,
        config: bytes | Path | None = None,
        mapping: bytes | Path | None = None,
    ) -> labeling_interchange.ImportResult:
        """Answers from a Label Studio JSON export or a CSV of item_id, annotator, label (told
        apart by ``file_name``'s suffix), into ``task_id`` or a new task.

        A Label Studio export's items are created from its tasks' ``data`` when the project has
        none; ``config`` (the project's labeling config XML) and
        ``mapping`` (YAML: item_id, classes, span_types) match its names to the project's."""
        from core.labeling.interchange import (
            import_annotations,
            import_label_studio,
            read_annotation_table,
        )

        if isinstance(data, Path):
            file_name, data = file_name or data.name, data.read_bytes()
        name = file_name or "labels.json"
        suffix = Path(name).suffix.lower()
        if suffix == ".json":
            return import_label_studio(
                self._ws,
                project,
                data,
                self._actor,
                config=_read_bytes(config),
                mapping=_read_bytes(mapping),
                file_name=Path(name).name,
                task_id=task_id,
                task_name=task_name,
            )
        if suffix != ".csv":
            raise InvalidInput(
                f"{name}: expected a Label Studio .json export or a .csv of item_id, annotator, label."
            )
        return import_annotations(
            self._ws,
            project,
            read_annotation_table(data, name),
            self._actor,
            task_id=task_id,
            task_name=task_name or f"Import: {name}",
            source=source or "import",
        )


def _read_bytes(given: bytes | Path | None) -> bytes | None:
    if isinstance(given, Path):
        if not given.is_file():
            raise InvalidInput(f"No file at {given}.")
        return given.read_bytes()
    return given


def _read_predictions(path: Path) -> pd.DataFrame:
    """A model's class probabilities from a CSV: item_id and one column per class."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"No predictions file at {path}.")
    try:
        return pd.read_csv(path, dtype={"item_id": str}).set_index("item_id")
    except (ValueError, KeyError, pd.errors.ParserError) as exc:
        raise InvalidInput(
            f"{path.name}: expected a CSV with item_id and one column per class ({exc})."
        ) from exc

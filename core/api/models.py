"""Models: the versions behind aliases, promotion and rollback, predictions over a dataset."""

from __future__ import annotations

from typing import Any

from core.api.area import Area
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.registry.service import (
    Promotion,
    find_alias,
    predict_dataset,
    promotion_history,
    register_run_model,
)
from core.releases.service import promote, rollback


class Models(Area):
    def find_alias(self, project: str, alias: str = "production") -> Artifact | None:
        """The model version ``alias`` points to (None when nothing does yet)."""
        return find_alias(self._ws, project, alias)

    def register_run(self, run_id: int) -> Artifact:
        """A finished run's model as the project's next model version (the same files)."""
        return register_run_model(self._ws, run_id, self._actor)

    def promote(
        self,
        project: str,
        model: int | str,
        *,
        alias: str = "production",
        reason: str = "",
        build_id: int | None = None,
    ) -> Artifact:
        """Point ``alias`` at ``model`` (recorded with the reason; statuses are recomputed)."""
        return promote(
            self._ws, project, model, self._actor, alias=alias, reason=reason, build_id=build_id
        )

    def rollback(self, project: str, model: int | str, *, reason: str = "") -> Artifact:
        """Serve an earlier version again: a promotion of that version, recorded as any other."""
        return rollback(self._ws, project, model, self._actor, reason=reason)

    def promotion_history(self, project: str) -> list[Promotion]:
        """Every move of the production alias, newest first."""
        return promotion_history(self._ws, project)

    def predict_dataset(self, model: int | str, dataset: int | str | None = None) -> Any:
        """The model's class probabilities for every row of a dataset version (the project's
        latest by default): a DataFrame indexed by item id, JSON records over a remote transport."""
        chosen = get_artifact(self._ws, dataset) if dataset is not None else None
        return predict_dataset(self._ws, get_artifact(self._ws, model), chosen)

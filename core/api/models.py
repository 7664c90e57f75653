"""Models: the versions behind aliases, promotion and rollback, predictions over a dataset."""

from __future__ import annotations

from typing import Any

from core.api.area import Area
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact
from core.monitoring.candidates import CandidateComparison, compare_candidate
from core.registry.service import (
    Promotion,
    find_alias,
    predict_dataset,
    promotion_history,
    register_run_model,
)
from core.releases.canary import CanaryCheck, check_canary
from core.releases.pipeline import Pipeline, Readiness, pipeline, readiness, release
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

    def release(
        self, project: str, model: int | str, *, to: str, reason: str, force: bool = False
    ) -> Artifact:
        """Promote ``model`` to ``to`` (``acceptance`` or ``production``) if it meets that
        environment's policy; refused with every unmet condition listed. An admin may ``force``
        it past them (recorded in the audit row). An MLflow model Loopline cannot serve is
        refused either way."""
        return release(self._ws, project, model, self._actor, to=to, reason=reason, force=force)

    def readiness(self, project: str, model: int | str, to: str = "production") -> Readiness:
        """Every condition of ``to``'s promotion policy, checked on ``model``."""
        return readiness(self._ws, project, model, to)

    def environments(self, project: str) -> Pipeline:
        """The project's environments (acceptance, production) with their models, and what each
        newer version still lacks for its next environment."""
        return pipeline(self._ws, project)

    def compare_candidate(self, project: str) -> CandidateComparison | None:
        """The acceptance model against production on the live requests both scored (shadow or
        canary); None when no model is in acceptance beside production."""
        production = find_alias(self._ws, project, "production")
        candidate = find_alias(self._ws, project, "acceptance")
        if production is None or candidate is None:
            return None
        if production.artifact_id == candidate.artifact_id:
            return None
        return compare_candidate(self._ws, project, production.artifact_id, candidate.artifact_id)

    def check_canary(self, project: str) -> CanaryCheck:
        """Roll a canary back (acceptance to production's model, audited) when the project's
        rules fire on it: run after monitoring computes the project's windows."""
        return check_canary(self._ws, project, self._actor)

    def predict_dataset(self, model: int | str, dataset: int | str | None = None) -> Any:
        """The model's class probabilities for every row of a dataset version (the project's
        latest by default): a DataFrame indexed by item id, JSON records over a remote transport."""
        chosen = get_artifact(self._ws, dataset) if dataset is not None else None
        return predict_dataset(self._ws, get_artifact(self._ws, model), chosen)

"""Behavioural tests: a project's suite run alone on a model (``loopline behave``)."""

from __future__ import annotations

from pathlib import Path

from core.api.area import Area
from core.behave.models import SuiteResult
from core.behave.service import behave

__all__ = ["Behave"]


class Behave(Area):
    def run(
        self, project: str, *, model: int | str | None = None, suite: Path | None = None
    ) -> SuiteResult:
        """The project's behavioural suite (``gates/<project>.behave.yaml``, or ``suite``) on
        ``model`` (a reference such as ``model:ooo-replies@2``, an id, or an alias; default: the
        model in production): per test its pass rate with n and interval and failing examples.
        Nothing is written."""
        return behave(self._ws, project, self._actor, model=model, suite=suite)

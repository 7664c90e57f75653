"""Projects: the project files, who may see which, and the Home page's picture of each loop."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core.accounts.access import visible_projects
from core.api.area import Area, OnUse
from core.projects.service import Project, create_project, get_project, list_projects

if TYPE_CHECKING:
    import core.overview as core_overview
else:  # the overview imports builds, runs and requirements (pandas): only when it is asked for
    core_overview = OnUse("core.overview")


class Projects(Area):
    def list(self) -> builtins.list[Project]:
        """Every project, in name order."""
        return list_projects(self._ws)

    def get(self, name: str) -> Project:
        return get_project(self._ws, name)

    def create(self, path: Path, *, update: bool = False) -> Project:
        """Create a project from its YAML file (``update``: a new version of an existing one)."""
        return create_project(self._ws, Path(path), self._actor, update=update)

    def visible(self, names: Sequence[str], permission: str = "project.read") -> builtins.list[str]:
        """The names among ``names`` the session user may see (all of them when unchecked)."""
        return visible_projects(self._ws, None, names, permission)

    def overview(self) -> builtins.list[core_overview.ProjectOverview]:
        """Each visible project as the loop DM → Mod → Dev → Ops (the Home page)."""
        from core.overview import workspace_overview

        return workspace_overview(self._ws)

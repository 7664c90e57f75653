"""What the signed-in user may not do here, said before they try: pages disable an action's
controls and show the reason core would give (who, which roles, which role is needed)."""

from __future__ import annotations

import streamlit as st

from core.api import Client, Forbidden


def refusal(api: Client, permission: str, project: str | None) -> Forbidden | None:
    """Core's refusal of ``permission`` in ``project`` for the signed-in user; None if allowed."""
    return api.accounts.refusal(permission, project)


def explain(refused: Forbidden | None) -> None:
    """A caption under disabled controls: why they are disabled and who can grant the role."""
    if refused is not None:
        st.caption(
            f"🔒 {refused.message}" + (f" To get it, {refused.hint}" if refused.hint else "")
        )

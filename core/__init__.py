"""Loopline's engine: the workspace store, the ML life-cycle services and the CLI.

Nothing under ``core`` imports streamlit; the app in ``app/`` is a thin layer over these services.
"""

__version__ = "0.1.0"

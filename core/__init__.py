"""Loopline's engine: the workspace store, the ML life-cycle services and the CLI.

Nothing under ``core`` imports streamlit; the app in ``app/`` is a thin layer over these services.
"""

import os

__version__ = "0.1.0"

# OpenMP threads (XGBoost's training, scikit-learn's) wait for work by sleeping, not spinning.
# Loopline's processes share cores with one another (the app, a server, CI runners, test workers):
# with libgomp's default spin-wait, an XGBoost fit on case B took 67 s and 41 s of CPU beside two
# busy processes on a 2-core machine, 21 s and 7 s with PASSIVE (quiet: 3.1-3.9 s against 4.3 s).
# Read when libgomp loads, so before anything imports XGBoost or scikit-learn; a value the user
# set (e.g. ACTIVE on a machine kept for training) is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

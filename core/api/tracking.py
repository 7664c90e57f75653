"""The tracking API for training scripts and notebooks, as part of the public API.

    from core.api.tracking import Tracker           # runs into a workspace on this machine
    from core.remote.tracking import Tracker        # the same, into a team's `loopline server`

See ``core.experiments.tracking`` for how runs are buffered and written; ``to_wire`` is the form
in which a remote tracker sends them (``runs.log_batch``)."""

from core.experiments.tracking import Origin, Run, Sink, Tracker, _Buffered, to_wire

Buffered = _Buffered  # a buffered run (or a piece of one), as a sink receives it

__all__ = ["Buffered", "Origin", "Run", "Sink", "Tracker", "to_wire"]

"""Requirements traceability: system requirements ↔ the ML requirements derived from them ↔ the
evidence that shows, right now, whether each holds.

- ``service``: versioned requirement sets (import, edit, delete, history), ``import_requirements``
- ``parse`` / ``interchange`` / ``reqif``: validation, YAML, CSV and ReqIF 1.2
- ``rules``: what a check is (metrics, comparators, the relative form), in plain Python
- ``status`` (+ ``status_sql``): statuses from evidence, recomputed set-based, and their history
- ``matrix``: the traceability matrix, coverage and the drill-down to evidence
- ``impact``: what promoting a candidate would change; ``derive``: thresholds from operations
- ``verify``: `loopline verify-system`; ``gate``: requirements in `loopline build`
- ``report``: CSV / YAML / ReqIF / HTML exports and model cards
"""

from core.requirements.service import import_requirements

__all__ = ["import_requirements"]

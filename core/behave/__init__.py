"""Behavioural tests of the AI component (CheckList's minimum-functionality, invariance and
directional tests), declared per project in YAML next to the gate.

- ``dates``: reading a date as written and writing it in another format or language
- ``perturb``: perturbations of text (casing, whitespace, signature, quoted thread, a date, a
  name or e-mail swapped, a phrase translated) and of table rows (jitter, relabel, missing, shift)
- ``expect``: expectations (label is X, label unchanged, span text found, score moves up/down)
- ``suite``: the suite file (``gates/<project>.behave.yaml``) parsed into frozen configs
- ``run``: examples made (templates, the test set), perturbed, predicted and judged, seeded
- ``service``: a suite run against a registered model of a workspace
"""

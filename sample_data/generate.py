"""Regenerate Loopline's two sample projects, deterministically.

    python sample_data/generate.py [--out DIR]

Writes DIR/ooo-replies/... and DIR/hw-triage/... (default DIR: this folder).
Same code + same seeds -> byte-identical files (stdlib + numpy + pandas only).
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import hw_triage_gen  # noqa: E402
import ooo_replies_gen  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default=HERE, help="output directory (default: sample_data/)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    a = ooo_replies_gen.generate(args.out)
    print(
        f"ooo-replies: history={a['history']} later={a['later']} -> {os.path.join(args.out, 'ooo-replies')}"
    )
    b = hw_triage_gen.generate(args.out)
    print(
        f"hw-triage:   history={b['history']} later={b['later']} -> {os.path.join(args.out, 'hw-triage')}"
    )


if __name__ == "__main__":
    main()

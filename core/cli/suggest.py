"""A "did you mean" for a mistyped command or subcommand: `loopline lineag 3` names `lineage`."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return None


def _takes_value(parser: argparse.ArgumentParser, option: str) -> bool:
    """Whether ``option`` (as typed, without ``=value``) consumes the next word."""
    action = parser._option_string_actions.get(option)
    return action is not None and action.nargs != 0


def mistyped(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The message for the first command word in ``argv`` that is no command of its parser but
    close to one ("Unknown command 'lineag'. Did you mean `loopline lineage`?"), else None
    (argparse then says what it says for anything else)."""
    words = list(argv)
    path = [parser.prog]
    index = 0
    while index < len(words):
        choices = _subcommands(parser)
        if choices is None:
            return None
        word = words[index]
        if word.startswith("-"):
            index += 2 if "=" not in word and _takes_value(parser, word) else 1
            continue
        if word in choices:
            parser, path, index = choices[word], [*path, word], index + 1
            continue
        close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
        if not close:
            return None
        options = " or ".join(f"`{' '.join([*path, name])}`" for name in close)
        return f"Unknown command {' '.join([*path[1:], word])!r}. Did you mean {options}?"
    return None

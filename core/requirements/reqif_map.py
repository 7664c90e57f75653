"""The mapping file of a ReqIF import: how a requirements tool's export reads as Loopline's
system and ML requirements, when the names it uses are not the ones Loopline guesses.

```yaml
project: ooo-detector              # the Loopline project (else --project or Loopline.Project)
object_types:                      # SPEC-OBJECT-TYPE long name → system | ml | section | text
  Stakeholder Requirement: system
  Model Requirement: ml
  Heading: section
level_attribute: Requirement Level # an attribute whose value names the level
levels:                            # values of that attribute, section or specification titles
  System: system
  Model: ml
fields:                            # attribute long name → Loopline field
  Object Number: id
  KPI: metric
relations:                         # relation type long name → derived_from | parent_of | ignore
  traces to: derived_from
  Child: parent_of
```

Without a mapping, relation types named like a derivation (``Parent``, ``derived from``,
``satisfies``, ``refines``, …) are links from source to target, object types named section,
heading, chapter or text are document structure, and a requirement is an ML requirement when it
has a Loopline metric, its type says ML, or the section or specification it sits in does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import InvalidInput, expected_one_of
from core.requirements.reqif import FIELDS

KINDS = ("system", "ml", "section", "text")
LEVELS = ("system", "ml")
RELATIONS = ("derived_from", "parent_of", "ignore")
KEYS = ("project", "object_types", "level_attribute", "levels", "fields", "relations")
DERIVATION = (  # relation type names (lower case) whose source is derived from the target
    "parent",
    "derived from",
    "derives from",
    "is derived from",
    "derived",
    "derivation",
    "satisfies",
    "satisfy",
    "refines",
    "refine",
    "implements",
    "realizes",
    "traces to",
)
STRUCTURE = re.compile(r"\b(section|heading|chapter|title|toc)\b", re.IGNORECASE)
TEXT = re.compile(r"^(text|information|info|note|comment|description)$", re.IGNORECASE)
ML_WORDS = re.compile(r"\bML\b|machine[ -]learning", re.IGNORECASE)
MAX_MAPPING = 1 << 20


@dataclass(frozen=True)
class ReqifMapping:
    project: str | None = None
    object_types: dict[str, str] = field(default_factory=dict)  # lower-case keys
    level_attribute: str | None = None
    levels: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    relations: dict[str, str] = field(default_factory=dict)

    def relation(self, name: str) -> str:
        """What a relation type means: derived_from, parent_of or ignore."""
        key = name.strip().lower()
        if key in self.relations:
            return self.relations[key]
        if not key or key in DERIVATION or re.search(r"deriv|satisf|refine", key):
            return "derived_from"
        return "ignore"

    def ignores(self, name: str) -> bool:
        """Does the mapping say to drop relations of this type (else one that is not a
        derivation is kept as a relation of its type)?"""
        return self.relations.get(name.strip().lower()) == "ignore"

    def object_kind(self, type_name: str) -> str | None:
        """system | ml | section | text from the mapping or the type's name; None: undecided."""
        key = type_name.strip().lower()
        if key in self.object_types:
            return self.object_types[key]
        if TEXT.match(key):
            return "text"
        if STRUCTURE.search(key):
            return "section"
        return None

    def level_of(self, text: str) -> str | None:
        """The level a value, section or specification title names: the mapping's ``levels``,
        else 'ml' when it speaks of ML or a model, 'system' when it says system."""
        key = text.strip().lower()
        if key in self.levels:
            return self.levels[key]
        if key in LEVELS:
            return key
        if ML_WORDS.search(text):
            return "ml"
        if re.search(r"\bsystem\b|stakeholder|product", key):
            return "system"
        return None


NO_MAPPING = ReqifMapping()


def read_mapping(path: str | Path | None) -> ReqifMapping:
    """The mapping file (YAML), checked: unknown keys, kinds, levels and relation meanings are
    named with what is allowed."""
    if path is None:
        return NO_MAPPING
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(
            f"No mapping file at {file}.", hint="pass the path of a YAML mapping file"
        )
    if file.stat().st_size > MAX_MAPPING:
        raise InvalidInput(f"{file.name}: a mapping file is at most 1 MiB.")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file.name}: not UTF-8 text (byte {exc.start}).") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file.name}: not valid YAML ({exc}).") from exc
    return parse_mapping(data or {}, file.name)


def parse_mapping(data: Any, source: str) -> ReqifMapping:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{source}: expected a mapping with some of: {', '.join(KEYS)}.")
    unknown = sorted(str(k) for k in data if k not in KEYS)
    if unknown:
        raise InvalidInput(
            f"{source}: unknown key(s) {', '.join(unknown)}. Expected some of: {', '.join(KEYS)}."
        )
    return ReqifMapping(
        project=_optional_text(data, "project", source),
        object_types=_table(data, "object_types", KINDS, source),
        level_attribute=_optional_text(data, "level_attribute", source),
        levels=_table(data, "levels", LEVELS, source),
        fields=_fields(data, source),
        relations=_table(data, "relations", RELATIONS, source),
    )


def _optional_text(data: Mapping[str, Any], key: str, source: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{source}: {key}: expected text, got {value!r}.")
    return value.strip()


def _table(
    data: Mapping[str, Any], key: str, allowed: tuple[str, ...], source: str
) -> dict[str, str]:
    table = data.get(key) or {}
    if not isinstance(table, Mapping):
        raise InvalidInput(f"{source}: {key}: expected a mapping of names to values.")
    out: dict[str, str] = {}
    for name, value in table.items():
        text = str(value).strip().lower()
        if text not in allowed:
            raise InvalidInput(f"{source}: {key}.{name}: {expected_one_of('value', text, allowed)}")
        out[str(name).strip().lower()] = text
    return out


def _fields(data: Mapping[str, Any], source: str) -> dict[str, str]:
    allowed = tuple(sorted(FIELDS))
    table = data.get("fields") or {}
    if not isinstance(table, Mapping):
        raise InvalidInput(f"{source}: fields: expected a mapping of attribute names to fields.")
    out: dict[str, str] = {}
    for name, value in table.items():
        text = str(value).strip()
        if text not in FIELDS:
            raise InvalidInput(
                f"{source}: fields.{name}: {expected_one_of('field', text, allowed)}"
            )
        out[str(name).strip().lower()] = text
    return out

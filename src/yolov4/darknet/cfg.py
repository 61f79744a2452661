"""Darknet ``.cfg`` files: parse into typed sections, write sections back to text.

A cfg is a list of :class:`Section` — ``[net]`` first, then one section per layer. Values are
kept as the strings the file holds (so ``parse → write → parse`` gives equal sections) and read
through typed getters that apply Darknet's defaults and name the file and line on a bad value.

Darknet semantics kept here (``src/parser.c: read_cfg, option_find``):
- ``#`` and ``;`` start comment lines; blank lines are ignored; whitespace in ``key = value``
  lines is removed.
- When a key appears twice in one section, the **first** value wins (``option_find`` returns
  the first match of the list it appended to).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from ..errors import CfgError
from .layer_types import ALIASES as _TABLE_ALIASES, LAYER_TYPES as _TABLE
from .yolo_settings import YoloSettings

PathLike = Union[str, "os.PathLike[str]"]

#: Section types the layer graph understands, with their aliases (``[net]``/``[network]`` is the
#: header); both come from the layer-type table (:mod:`yolov4.darknet.layer_types`).
LAYER_TYPES = frozenset(set(_TABLE) | set(_TABLE_ALIASES))
#: Darknet's short aliases mapped to the canonical section names.
ALIASES = {**_TABLE_ALIASES, "network": "net"}


@dataclass
class Section:
    """One ``[type]`` block of a cfg.

    Attributes:
        type: canonical section name (``"net"``, ``"convolutional"``, ``"yolo"``, ...).
        options: ``key -> value`` as written (strings, whitespace removed), first duplicate kept.
        line: 1-based line number of the ``[type]`` header (0 for sections built in Python).
        source: file the section came from (``"<sections>"`` when built in Python).
        key_lines: 1-based line number of each key, for error messages.
    """

    type: str
    options: Dict[str, str] = field(default_factory=dict)
    line: int = 0
    source: str = "<sections>"
    key_lines: Dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __eq__(self, other: object) -> bool:  # equality ignores where the section came from
        if not isinstance(other, Section):
            return NotImplemented
        return self.type == other.type and self.options == other.options

    # -- error helpers -------------------------------------------------------------------
    def where(self, key: Optional[str] = None) -> str:
        line = self.key_lines.get(key, self.line) if key else self.line
        return f"{self.source}:{line}: [{self.type}]"

    def error(self, message: str, key: Optional[str] = None) -> CfgError:
        return CfgError(f"{self.where(key)} {message}")

    # -- typed getters (Darknet's option_find_int/float/str) ------------------------------
    def has(self, key: str) -> bool:
        return key in self.options

    def get_str(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self.options.get(key, default)

    def get_int(self, key: str, default: Optional[int] = None) -> int:
        raw = self.options.get(key)
        if raw is None:
            if default is None:
                raise self.error(f"missing required key '{key}'")
            return default
        try:
            return int(raw)
        except ValueError:
            try:  # Darknet uses atoi(); accept "1.0" but not "abc"
                value = float(raw)
            except ValueError:
                raise self.error(f"key '{key}': expected an integer, got '{raw}'", key) from None
            if value != int(value):
                raise self.error(f"key '{key}': expected an integer, got '{raw}'", key) from None
            return int(value)

    def get_float(self, key: str, default: Optional[float] = None) -> float:
        raw = self.options.get(key)
        if raw is None:
            if default is None:
                raise self.error(f"missing required key '{key}'")
            return default
        try:
            return float(raw)
        except ValueError:
            raise self.error(f"key '{key}': expected a number, got '{raw}'", key) from None

    def get_ints(self, key: str, default: Optional[Sequence[int]] = None) -> List[int]:
        return self._get_list(key, default, int, "integers")

    def get_floats(self, key: str, default: Optional[Sequence[float]] = None) -> List[float]:
        return self._get_list(key, default, float, "numbers")

    def _get_list(self, key: str, default: Optional[Sequence[Any]], parse: Callable[[str], Any],
                  what: str) -> List[Any]:
        """Comma-separated ``key`` parsed item by item (empty items skipped); an empty value
        counts as missing."""
        raw = self.options.get(key)
        if raw is None or raw == "":
            if default is None:
                raise self.error(f"missing required key '{key}'")
            return list(default)
        try:
            return [parse(v) for v in raw.split(",") if v != ""]
        except ValueError:
            raise self.error(f"key '{key}': expected {what} separated by commas, got '{raw}'",
                             key) from None

    def get_choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        value = self.options.get(key, default)
        allowed = tuple(choices)
        if value not in allowed:
            raise self.error(f"key '{key}': '{value}' is not one of {', '.join(allowed)}", key)
        return value

    def set(self, key: str, value: object) -> "Section":
        """Set ``key`` (replacing any value); lists are written comma-separated. Returns self."""
        self.options[key] = format_value(value)
        return self


def format_value(value: object) -> str:
    """Format a Python value the way a cfg writes it (``[1, 2] -> "1,2"``, ``0.5 -> "0.5"``)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def make_section(type_: str, **options: object) -> Section:
    """Build a section in Python: ``make_section("maxpool", size=2, stride=2)``."""
    return Section(type_, {k: format_value(v) for k, v in options.items() if v is not None})


def parse_cfg_text(text: str, source: str = "<string>", strict: bool = True) -> List[Section]:
    """Parse cfg text into sections.

    Args:
        text: the file's contents.
        source: name used in error messages.
        strict: reject section types the layer graph does not know (with their line number).

    Raises:
        CfgError: a key outside any section, a line that is neither ``[type]`` nor
            ``key=value``, an unknown section type, or no sections at all.
    """
    sections: List[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = "".join(raw.split())  # Darknet strips every whitespace character
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise CfgError(f"{source}:{number}: section header '{raw.strip()}' lacks ']'")
            name = line[1:-1].lower()
            name = ALIASES.get(name, name)
            if strict and name != "net" and name not in LAYER_TYPES:
                raise CfgError(f"{source}:{number}: unknown layer type [{name}]")
            sections.append(Section(name, {}, number, source))
            continue
        if "=" not in line:
            raise CfgError(f"{source}:{number}: expected 'key=value' or '[section]', "
                           f"got '{raw.strip()}'")
        if not sections:
            raise CfgError(f"{source}:{number}: option '{raw.strip()}' before any [section]")
        key, value = line.split("=", 1)
        current = sections[-1]
        if key not in current.options:  # first duplicate wins, as option_find
            current.options[key] = value
            current.key_lines[key] = number
    if not sections:
        raise CfgError(f"{source}: no sections found (is this a Darknet .cfg?)")
    return sections


def read_cfg(path: PathLike, strict: bool = True) -> List[Section]:
    """Read a ``.cfg`` file. Raises :class:`CfgError` naming the file on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise CfgError(f"{path}: cfg file not found") from None
    except OSError as err:
        raise CfgError(f"{path}: cannot read cfg ({err.strerror})") from None
    return parse_cfg_text(text, str(path), strict)


def write_cfg_text(sections: Sequence[Section]) -> str:
    """Sections as cfg text; ``parse_cfg_text(write_cfg_text(s)) == s``."""
    lines: List[str] = []
    for section in sections:
        lines.append(f"[{section.type}]")
        lines.extend(f"{key}={value}" for key, value in section.options.items())
        lines.append("")
    return "\n".join(lines)


def write_cfg(sections: Sequence[Section], path: PathLike) -> None:
    """Write sections to ``path`` as a Darknet ``.cfg``."""
    Path(path).write_text(write_cfg_text(sections), encoding="utf-8")


def split_net(sections: Sequence[Section]) -> "tuple[Section, List[Section]]":
    """Return ``([net], layers)``; raises if the first section is not ``[net]``."""
    if not sections or sections[0].type != "net":
        where = f"{sections[0].source}:{sections[0].line}: " if sections else ""
        raise CfgError(f"{where}the first section must be [net]")
    return sections[0], list(sections[1:])


def set_classes(sections: List[Section], classes: int) -> None:
    """Rewrite every ``[yolo]`` ``classes`` and the ``filters`` of the conv feeding it, in place.

    filters = ``len(mask)·(5 + classes)``. Raises CfgError if a ``[yolo]`` is not fed by a conv.
    """
    if classes < 1:
        raise CfgError(f"classes must be >= 1, got {classes}")
    for i, s in enumerate(sections):
        if s.type != "yolo":
            continue
        prev = sections[i - 1]
        if prev.type != "convolutional":
            raise s.error("classes can only be changed when a [convolutional] feeds [yolo]")
        mask = YoloSettings.from_section(s).mask
        s.set("classes", classes)
        prev.set("filters", len(mask) * (5 + classes))

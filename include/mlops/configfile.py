"""Reading a dataset config file: YAML with the line of every key, and errors that name file and line.

Only ``yaml`` and ``pathlib``: DAG files read configs at parse time through this module.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops.errors import ConfigError

Loc = tuple[str | int, ...]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class ConfigFile:
    """A parsed dataset config: its content and where each key sits in the file."""

    path: Path
    data: dict[str, Any]
    lines: dict[Loc, int] = field(default_factory=dict, repr=False)

    def line(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the deepest key of ``loc`` found in the file (None when none is)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None

    def where(self, loc: Sequence[str | int] = ()) -> str:
        """``<path>, line N`` (or just the path when the key is not in the file)."""
        line = self.line(loc)
        return f"{self.path}, line {line}" if line else str(self.path)

    def error(self, loc: Sequence[str | int], message: str) -> ConfigError:
        return ConfigError(f"dataset config {self.where(loc)}: {message}")


def _key_lines(node: yaml.Node, prefix: Loc, lines: dict[Loc, int], path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key != "<<" and key in seen:
                raise ConfigError(
                    f"dataset config {path}, line {line}: key {'.'.join(map(str, (*prefix, key)))!r} appears twice "
                    f"(lines {seen[key]} and {line}); YAML keeps only the last one. Remove one of them."
                )
            seen[key] = line
            lines[(*prefix, key)] = line
            _key_lines(value_node, (*prefix, key), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*prefix, i)] = item.start_mark.line + 1
            _key_lines(item, (*prefix, i), lines, path)


def yaml_error(path: Path, e: yaml.YAMLError, text: str = "") -> ConfigError:
    """A YAML syntax error as a ``ConfigError`` naming the file, line and column (not ``<unicode string>``)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    context_mark = getattr(e, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        problem = f"{problem} ({context} at line {context_mark.line + 1})"
    snippet = ""
    text_lines = text.splitlines()
    if mark is not None and mark.line < len(text_lines):
        snippet = f"\n    {text_lines[mark.line]}\n    {' ' * mark.column}^"
    return ConfigError(f"dataset config {where}: not valid YAML: {problem}.{snippet}\nFix the file; datasets in other files are not affected.")


#: libyaml's loader when PyYAML was built with it (about ten times faster), else the pure-Python one.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_config_file(path: Path) -> ConfigFile:
    """Parse ``path``; raise ``ConfigError`` naming file and line for bad YAML, duplicate keys or a non-mapping."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"dataset config {path} cannot be read: {e}") from e
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        raise yaml_error(path, e, text) from e
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"dataset config {path}: the file must hold a mapping (name: ..., source: ...) at the top level, found {type(data).__name__}")
    lines: dict[Loc, int] = {}
    if node is not None:
        _key_lines(node, (), lines, path)
    return ConfigFile(path=path, data=data, lines=lines)

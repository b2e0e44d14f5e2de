"""Checks shared by the source readers: files that exist, paths that stay inside the data root."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any


class SourceError(ValueError):
    """A source file that cannot be read as its format; the message names file and line or key."""


_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a :class:`Path`; ``FileNotFoundError`` naming ``what`` when it is not a file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: {what} not found")
    return p


def check_plain_id(value: str, where: str) -> str:
    """An id that is safe inside a file name: letters, digits, ``_ . -``; no ``/``, no ``..``."""
    if not _PLAIN_ID.fullmatch(value) or ".." in value:
        raise SourceError(
            f"{where}: id {value!r} is not a plain name (letters, digits, '_', '.', '-' only)"
        )
    return value


def check_relative_path(value: str, where: str) -> str:
    """A relative POSIX path that cannot leave the data root (no absolute path, no ``..`` escape).

    The resolved path is checked again against the real root when an image is opened
    (:meth:`palt.data.benchmark.Benchmark.image_path`); this lexical check catches bad annotation
    files when they are read.
    """
    if not value or "\\" in value or "\x00" in value:
        raise SourceError(f"{where}: image path {value!r} must be a non-empty POSIX path")
    norm = posixpath.normpath(value)
    if posixpath.isabs(value) or re.match(r"[A-Za-z]:", value):
        raise SourceError(f"{where}: image path {value!r} is absolute; it must be relative")
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise SourceError(f"{where}: image path {value!r} escapes the data root")
    return value


def format_path(template: str, where: str, **fields: Any) -> str:
    """``template.format(**fields)``, checked with :func:`check_relative_path`."""
    try:
        path = template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise SourceError(
            f"path template {template!r}: cannot fill it for {where} ({err!r}); "
            f"available fields: {sorted(fields)}"
        ) from None
    return check_relative_path(path, where)


def path_maker(template: str, where: str) -> Callable[[str], str]:
    """``id → template.format(id=id)`` for ids already checked by :func:`check_plain_id`.

    The template is checked once with a probe id: a plain id adds no ``/`` and no ``..``, so a
    template that stays inside the root with the probe stays inside it with every plain id.
    """
    format_path(template, where, id="x")
    return lambda sample_id: template.format(id=sample_id)


def read_name_list(path: str | Path, what: str) -> list[str]:
    """Names one per line, in file order; blank lines skipped, a repeated name is an error."""
    p = require_file(path, what)
    names: list[str] = []
    first: dict[str, int] = {}
    with open(p, encoding="utf-8-sig") as f:
        for line, text in enumerate(f, 1):
            name = text.strip()
            if not name:
                continue
            if name in first:
                raise SourceError(f"{p} line {line}: {name!r} repeats line {first[name]}")
            first[name] = line
            names.append(name)
    if not names:
        raise SourceError(f"{p}: no names in the {what}")
    return names

"""Reading a catalog file: YAML or JSON text to plain data, with duplicate keys found and parse
errors that never quote the file (a line may hold a secret).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..errors import CatalogError, did_you_mean


def read_document(path: Path, *, known_keys: Collection[str]) -> tuple[Any, str]:
    """(the parsed mapping, the resolved file name) of a ``.yaml``/``.yml``/``.json`` catalog file.

    Every problem is a :class:`CatalogError` naming the file and, for parse errors, the line and
    column, with a hint naming the line's key when it is one of ``known_keys`` (never its value).
    """
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise CatalogError(f"catalog file {what}: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise CatalogError(f"{path}: unsupported catalog file type {suffix!r}; use .yaml, .yml or .json")
    # The parser's exception quotes the file (YAML marks hold the buffer, JSONDecodeError.doc the
    # whole text, a converter's ValueError the value): it may hold a secret. Only safe details
    # leave this block, and the CatalogError is raised outside it so nothing chains to it.
    problem: str | None = None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = f"the file is not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8"
    except OSError as exc:
        problem = f"cannot read the file ({type(exc).__name__}: {exc.strerror or 'error'})"
    if problem is not None:
        raise CatalogError(f"{path}: cannot parse catalog: {problem}") from None
    return parse_document(text, name=str(path), source_name=str(path.resolve()), known_keys=known_keys), \
        str(path.resolve())


def parse_document(text: str, *, name: str, source_name: str, known_keys: Collection[str]) -> Any:
    """The parsed mapping of a catalog's text (JSON when ``name`` ends in ``.json``, else YAML)."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    if f".{suffix}" not in (".json", ".yaml", ".yml"):
        raise CatalogError(f"{name}: unsupported catalog file type {'.' + suffix if suffix else '(none)'!r}; "
                           "use .yaml, .yml or .json")
    problem: str | None = None
    data: Any = None
    try:
        data = json.loads(text, object_pairs_hook=_json_mapping) if suffix == "json" else _load_yaml(text)
    except Exception as exc:  # noqa: BLE001 - any parser failure becomes one CatalogError
        problem = _parse_error(exc, text, known_keys)
    if problem is not None:
        raise CatalogError(f"{name}: cannot parse catalog: {problem}") from None
    _check_duplicates(data, where=source_name, path="")
    if not isinstance(data, dict):
        raise CatalogError(f"{name}: a catalog must be a mapping of stores, got {type(data).__name__}")
    return data


class _Duplicates(dict):
    """A parsed mapping that repeated keys; reported with its key path once the whole file is read."""

    duplicates: list[tuple[Any, int | None]]


def _mapping(pairs: list[tuple[Any, Any, int | None, bool]]) -> dict[Any, Any]:
    """A dict of ``(key, value, line, explicit)`` pairs, remembering keys written twice.

    Keys brought in by a YAML merge (``<<: *base``) are not explicit: later keys override them.
    """
    out: dict[Any, Any] = {}
    explicit_keys: set[Any] = set()
    duplicates = []
    for key, value, line, explicit in pairs:
        if explicit:
            if key in explicit_keys:
                duplicates.append((key, line))
            explicit_keys.add(key)
        out[key] = value
    if duplicates:
        out = _Duplicates(out)
        out.duplicates = duplicates
    return out


def _json_mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return _mapping([(key, value, None, True) for key, value in pairs])


def _load_yaml(text: str) -> Any:
    import yaml

    merge_tag = "tag:yaml.org,2002:merge"

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        explicit = {id(key_node) for key_node, _ in node.value if key_node.tag != merge_tag}
        loader.flatten_mapping(node)
        return _mapping(
            [
                (
                    loader.construct_object(key_node, deep=deep),
                    loader.construct_object(value_node, deep=deep),
                    key_node.start_mark.line + 1,
                    id(key_node) in explicit,
                )
                for key_node, value_node in node.value
            ]
        )

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass


def _parse_error(exc: Exception, text: str, known_keys: Collection[str]) -> str:
    """The parser's complaint and position, without the source line (it may hold a secret).

    A redacted hint names the key of the offending line when it is one of the catalog's own keys.
    """
    import yaml

    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno}){_line_hint(text, exc.lineno - 1, known_keys)}"
    if isinstance(exc, yaml.MarkedYAMLError):
        lines = text.splitlines()
        # the hint comes from the line the problem is on, else where its context started
        # (an unterminated quote is reported at the end of the file)
        marks = [m for m in (exc.problem_mark, exc.context_mark) if m is not None]
        mark = next((m for m in marks if 0 <= m.line < len(lines) and lines[m.line].strip()), None)

        def at(m: Any) -> str:
            return f" (line {m.line + 1}, column {m.column + 1})" if m is not None else ""

        before = f"{exc.context}{at(exc.context_mark)}: " if exc.context else ""
        said = f"{before}{exc.problem or 'invalid YAML'}{at(exc.problem_mark)}"
        for m in (exc.problem_mark, exc.context_mark):
            said = _scrub_line_values(said, text, m)
        return said + (_line_hint(text, mark.line, known_keys) if mark is not None else "")
    if isinstance(exc, yaml.YAMLError):
        return f"invalid YAML ({type(exc).__name__})"
    # A converter's error (``!!int secret`` -> ValueError quoting the value): only its type is safe.
    return f"the YAML/JSON document cannot be built ({type(exc).__name__}); check explicit tags such as !!int"


_LINE_KEY_RE = re.compile(r"""^\s*(?:-\s+)?["']?([A-Za-z_][A-Za-z0-9_\-]*)["']?\s*:""")


def _line_hint(text: str, line: int, known_keys: Collection[str]) -> str:
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return ""
    match = _LINE_KEY_RE.match(lines[line])
    if match and match.group(1) in known_keys:
        return f"; line {line + 1} sets {match.group(1)!r} (value not shown)"
    return f"; line {line + 1} is not shown (it may hold a secret)"


def _scrub_line_values(message: str, text: str, mark: Any) -> str:
    """``message`` with any word of the offending line's value masked (defence in depth)."""
    if mark is None:
        return message
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return message
    value = lines[mark.line].partition(":")[2]
    for word in sorted(set(re.findall(r"[^\s'\"{}\[\],:]{4,}", value)), key=len, reverse=True):
        message = message.replace(word, "***")
    return message


def _check_duplicates(value: Any, *, where: str, path: str) -> None:
    if isinstance(value, _Duplicates):
        key, line = value.duplicates[0]
        at = f" (line {line})" if line is not None else ""
        raise CatalogError(
            f"{where}: {path or '<root>'}: duplicate name {key!r}{at}; each name may appear only once here"
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _check_duplicates(v, where=where, path=f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_duplicates(v, where=where, path=f"{path}[{i}]")


_ENV_RE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def interpolate_env(value: Any, *, where: str, path: str, errors: list[CatalogError] | None = None) -> Any:
    """``value`` with every ``${env:VAR}`` / ``${env:VAR:-default}`` replaced; an unset variable
    without a default is a :class:`CatalogError` naming the key path (``stores.silver.bucket``),
    raised, or appended to ``errors`` (the reference is then left as written)."""
    if isinstance(value, str):
        def sub(match: re.Match[str]) -> str:
            var, default = match.group(1), match.group(2)
            found = os.environ.get(var)
            # As in a shell: ``${env:VAR:-x}`` means x when VAR is unset *or empty*.
            if default is not None and not found or found is not None:
                return default if default is not None and not found else found  # type: ignore[return-value]
            error = CatalogError(
                f"{where}: {path or '<root>'}: environment variable {var!r} is not set "
                f"(referenced as ${{env:{var}}}); set it or give a default: ${{env:{var}:-value}}"
            )
            if errors is None:
                raise error
            errors.append(error)
            return match.group(0)

        return _ENV_RE.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate_env(v, where=where, path=f"{path}.{k}" if path else str(k), errors=errors)
                for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_env(v, where=where, path=f"{path}[{i}]", errors=errors) for i, v in enumerate(value)]
    return value


def check_keys(entry: dict[str, Any], allowed: set[str], *, where: str, path: str, what: str) -> None:
    """A :class:`CatalogError` for the first key of ``entry`` not in ``allowed``, with a close match."""
    for key in entry:
        if key not in allowed:
            raise CatalogError(
                f"{where}: {path + ': ' if path else ''}unknown {what} {key!r}.{did_you_mean(str(key), allowed)}"
                f" Valid: {', '.join(sorted(allowed))}"
            )

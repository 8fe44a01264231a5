"""Read the project's keys out of a ``Pulumi.<stack>.yaml`` file, without the Pulumi engine.

A stack file is input from anyone who can open a pull request: before anything is built from it,
its YAML event stream is checked in one pass that neither recurses nor expands aliases. Nesting
deeper than ``MAX_DEPTH``, aliases that would expand to more than ``MAX_ALIAS_VALUES`` values
(or to themselves), and duplicate keys (which the Pulumi CLI refuses too) end in a
:class:`StackFileError` naming the key, in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import SecretStr

from cilium_bgp.config import ENCRYPTED, MAX_DEPTH, StackConfig, load_config
from cilium_bgp.errors import PROJECT, ConfigError, Problem, excerpt

# Values an alias may add to the document: anchors reused for a block per node are fine, a
# billion-laughs expansion is not.
MAX_ALIAS_VALUES = 10_000
# A nodes file (`nodesFile`) of 5,000 nodes takes well under 1 MiB.
MAX_NODES_FILE_BYTES = 8 * 2**20
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StackFileError(Exception):
    pass


@dataclass
class _Frame:
    """One open mapping or sequence of the event stream."""

    path: str
    mapping: bool
    start_count: int
    anchor: str | None
    keys: set[str] = field(default_factory=set)
    key: str | None = None  # mapping: the key whose value comes next (None: a key comes next)
    index: int = 0
    height: int = 0  # levels below this one seen so far


def _key_path(document_path: str) -> str:
    """``config.cilium-bgp:router.asn`` -> ``cilium-bgp:router.asn`` (a path names a key as errors do)."""
    return document_path.removeprefix("config.")


def _child(frame: _Frame | None) -> str:
    if frame is None:
        return ""
    if frame.mapping:
        return f"{frame.path}.{frame.key}" if frame.path else str(frame.key)
    return f"{frame.path}[{frame.index}]"


def check_yaml_events(text: str) -> None:
    """Refuse deep nesting, expanding or recursive aliases and duplicate keys, from events only."""
    frames: list[_Frame] = []
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (values, height) of its node
    open_anchors: set[str] = set()
    count = 0
    alias_values = 0

    def fail(path: str, what: str, line: int) -> StackFileError:
        where = _key_path(path) or "the document"
        return StackFileError(f"{where}: {what} (line {line + 1})")

    def value_done(values: int, height: int) -> None:
        """A complete value was read inside the innermost frame: advance it."""
        if not frames:
            return
        top = frames[-1]
        top.height = max(top.height, height + 1)
        if top.mapping:
            top.key = None
        else:
            top.index += 1

    for event in yaml.parse(text, Loader=_LOADER):
        line = event.start_mark.line if event.start_mark else 0
        top = frames[-1] if frames else None
        node = isinstance(event, yaml.ScalarEvent | yaml.AliasEvent | yaml.MappingStartEvent | yaml.SequenceStartEvent)
        if node and top is not None and top.mapping and top.key is None:
            # A key: only plain scalars, once each.
            if not isinstance(event, yaml.ScalarEvent):
                raise fail(top.path, "a key that is not a plain string", line)
            name = event.value
            if name in top.keys:
                raise fail(f"{top.path}.{name}" if top.path else name, f"duplicate key {excerpt(name)}", line)
            top.keys.add(name)
            top.key = name
            count += 1
            continue
        if isinstance(event, yaml.AliasEvent):
            assert event.anchor is not None  # the parser gives every alias its anchor's name
            if event.anchor in open_anchors:
                raise fail(_child(top), f"alias *{excerpt(event.anchor)} refers to its own anchor", line)
            values, height = sizes.get(event.anchor, (1, 0))
            alias_values += values
            if alias_values > MAX_ALIAS_VALUES:
                raise fail(_child(top), f"aliases expanding to more than {MAX_ALIAS_VALUES} values", line)
            if len(frames) + height > MAX_DEPTH:
                raise fail(_child(top), f"nesting deeper than {MAX_DEPTH} levels (through an alias)", line)
            count += values
            value_done(values, height)
        elif isinstance(event, yaml.ScalarEvent):
            count += 1
            if event.anchor:
                sizes[event.anchor] = (1, 0)
            value_done(1, 0)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if len(frames) >= MAX_DEPTH:
                raise fail(_child(top), f"nesting deeper than {MAX_DEPTH} levels", line)
            count += 1
            frame = _Frame(_child(top), isinstance(event, yaml.MappingStartEvent), count, event.anchor)
            if event.anchor:
                open_anchors.add(event.anchor)
            frames.append(frame)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            done = frames.pop()
            values = count - done.start_count + 1
            if done.anchor:
                open_anchors.discard(done.anchor)
                sizes[done.anchor] = (values, done.height)
            value_done(values, done.height)


def load_yaml(text: str) -> Any:
    """The document in ``text``, after :func:`check_yaml_events` found it bounded."""
    check_yaml_events(text)
    return yaml.load(text, Loader=_LOADER)


def _unwrap_secure(value: Any) -> tuple[Any, bool]:
    """``value`` with every ``{secure: ...}`` inside replaced by a placeholder; whether there was one.

    ``pulumi config set --secret --path a.b`` encrypts one value inside a mapping; the render
    command cannot decrypt it and needs only to know it is there.
    """
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return ENCRYPTED, True
        found = False
        out = {}
        for key, item in value.items():
            out[key], inner = _unwrap_secure(item)
            found = found or inner
        return out, found
    if isinstance(value, list):
        items = [_unwrap_secure(item) for item in value]
        return [item for item, _ in items], any(inner for _, inner in items)
    return value, False


def raw_config_from_stack_file(path: Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The ``cilium-bgp:*`` values of a stack file and the keys that hold ``secure:`` values.

    Encrypted values cannot be read without the stack's secrets provider; they become opaque
    placeholders, which is all the renderers need (secrets are filled in only on push).
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise StackFileError(f"cannot read stack file {path}: {error}") from None
    try:
        document = load_yaml(text)
    except StackFileError as error:
        raise StackFileError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"cannot read stack file {path}: {_yaml_problem(error)}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{path}: expected a mapping with a 'config:' mapping (a Pulumi stack file)")
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace != PROJECT or not name:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            raw[name] = SecretStr(ENCRYPTED)
            secret.add(name)
        else:
            raw[name], encrypted = _unwrap_secure(value)
            if encrypted:
                secret.add(name)
    return raw, frozenset(secret)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """The parser's complaint without the snippet it quotes (which may hold a secret)."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{error.problem or error.context or 'invalid YAML'}{where}"
    return "invalid YAML"


def read_nodes_file(name: Any, project_dir: Path) -> list[Any]:
    """The node list a ``nodesFile`` holds: a YAML (or JSON) list, read with the stack file's bounds."""

    def refuse(found: str, allowed: str) -> ConfigError:
        return ConfigError([Problem("nodesFile", found, allowed)])

    if not isinstance(name, str) or not name:
        raise refuse(excerpt(name), "a path relative to the project directory")
    shown = excerpt(name, limit=256)
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise refuse(shown, "a relative path inside the project directory (no leading / and no ..)")
    path = project_dir / relative
    try:
        size = path.stat().st_size
        if size > MAX_NODES_FILE_BYTES:
            raise refuse(f"{shown} of {size} bytes", f"at most {MAX_NODES_FILE_BYTES} bytes")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise refuse(f"{shown}, which cannot be read ({reason})", f"a readable file in {project_dir}") from None
    try:
        document = load_yaml(text)
    except StackFileError as error:
        raise refuse(f"{shown}: {error}", "a bounded YAML list of nodes") from None
    except yaml.YAMLError as error:
        raise refuse(f"{shown}: {_yaml_problem(error)}", "a YAML list of nodes") from None
    if not isinstance(document, list):
        raise refuse(f"{shown} holding {excerpt(document)}", "a YAML list of nodes, each with the keys of nodes[]")
    return document


def _in_nodes_file(problem: Problem, name: Any) -> Problem:
    """A problem of a node read from a nodes file, saying which file it is in."""
    key = problem.key
    if key == "nodes" or key.startswith(("nodes[", "nodes.")):
        return Problem(f"{key} (in nodesFile {excerpt(name, limit=256)})", problem.found, problem.allowed)
    return problem


def load_project_config(
    raw: Mapping[str, Any], secret_keys: frozenset[str], project_dir: Path, *, need_secret_values: bool = False
) -> StackConfig:
    """:func:`load_config` after reading ``nodes`` from ``nodesFile``, if the stack names one.

    The CLI hands the program every config value in one environment variable, which Linux caps at
    128 KiB: a file the program reads itself is how a stack lists more than about 760 nodes.
    """
    if "nodesFile" not in raw:
        return load_config(raw, secret_keys, need_secret_values=need_secret_values)
    if "nodes" in raw:
        raise ConfigError(
            [Problem("nodesFile", "nodes given as well", "either nodes in the stack config or a nodesFile, not both")]
        )
    name = raw["nodesFile"]
    expanded = {**raw, "nodes": read_nodes_file(name, project_dir)}
    try:
        return load_config(expanded, secret_keys, need_secret_values=need_secret_values)
    except ConfigError as error:
        raise ConfigError([_in_nodes_file(p, name) for p in error.problems]) from None


def load_stack_file(path: Path) -> StackConfig:
    """The config of a stack file; a ``nodesFile`` is read from the stack file's directory."""
    raw, secret_keys = raw_config_from_stack_file(path)
    return load_project_config(raw, secret_keys, path.parent)

"""The one YAML loader: safe, JSON data only, every refusal an InputError at FILE:LINE:COL."""
from __future__ import annotations

import math
import re
from typing import Any

from runstore.errors import InputError

#: Tags whose values JSON cannot hold (and so no config, sweep or fit file can mean): refused by
#: name rather than built. Python tags are never registered, so PyYAML refuses those itself.
_NON_DATA_TAGS = {"tag:yaml.org,2002:binary": "binary data", "tag:yaml.org,2002:set": "a set",
                  "tag:yaml.org,2002:omap": "an ordered map", "tag:yaml.org,2002:pairs": "pairs",
                  "tag:yaml.org,2002:timestamp": "a date"}
_MERGE_TAG = "tag:yaml.org,2002:merge"
#: Deepest nesting a file may have: configs are a few levels deep; PyYAML's composer recurses,
#: so thousands of levels would end in a RecursionError instead of a message.
MAX_DEPTH = 64
#: Most values a file may expand to once its aliases are followed: a sweep file has hundreds; a
#: 700-byte alias bomb ("billion laughs") has billions and would hang the JSON round trip.
MAX_VALUES = 100_000


def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """Safe YAML that yields JSON data only: YAML 1.2 floats (`1e12` and `3e-4` are
        numbers, not strings), no dates, no non-finite numbers, no duplicate keys."""

        def compose_node(self, parent, index):
            self._depth = getattr(self, "_depth", 0) + 1
            try:
                if self._depth > MAX_DEPTH:
                    raise _YamlDataError(f"nested deeper than {MAX_DEPTH} levels",
                                         self.peek_event())
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def compose_document(self):
            node = super().compose_document()
            if _expanded_size(node, {}) > MAX_VALUES:
                raise _YamlDataError(f"its aliases expand to more than {MAX_VALUES:,} values "
                                     "(an alias bomb?)", node)
            return node

        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:  # merged (`<<`) keys may be overridden: not these
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise _YamlDataError(f"key {key!r} is not a string (quote it)", key_node)
                if key in seen:
                    raise _YamlDataError(f"duplicate key '{key}' (first on line "
                                         f"{seen[key].start_mark.line + 1})", key_node)
                seen[key] = key_node
            return super().construct_mapping(node, deep=deep)

        def construct_yaml_float(self, node):
            v = super().construct_yaml_float(node)
            if not math.isfinite(v):
                raise _YamlDataError(f"{node.value} is not a finite number", node)
            return v

    def refuse(what):
        def construct(loader, node):
            shown = f" {node.value}" if isinstance(node.value, str) else ""
            raise _YamlDataError(f"{what}{shown:.40} is not a plain value (quote it if you mean "
                                 "the text)", node)
        return construct

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
        r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))
    Loader.add_constructor("tag:yaml.org,2002:float", Loader.construct_yaml_float)
    for tag, what in _NON_DATA_TAGS.items():
        Loader.add_constructor(tag, refuse(what))
    return Loader


def _expanded_size(node: Any, memo: dict) -> int:
    """Values the node stands for with every alias followed: linear in the distinct nodes
    (an alias is the same node object, so its size is looked up, never recomputed)."""
    key = id(node)
    if key not in memo:
        memo[key] = 0  # a recursive alias (a node inside itself) counts once, not forever
        children = node.value if isinstance(node.value, list) else []
        total = 1
        for child in children:
            for c in (child if isinstance(child, tuple) else (child,)):
                total += _expanded_size(c, memo)
                if total > MAX_VALUES:
                    break
        memo[key] = total
    return memo[key]


class _YamlDataError(Exception):
    """A value that parses as YAML but is not JSON data; carries the node for its position."""

    def __init__(self, message: str, node: Any):
        super().__init__(message)
        self.mark = node.start_mark


def _where(mark: Any) -> str | None:
    """'LINE:COL' (1-based) of a PyYAML mark, the position half of `FILE:LINE:COL`."""
    return None if mark is None else f"{mark.line + 1}:{mark.column + 1}"


def load_yaml_text(text: str, file: str = "<yaml>") -> Any:
    """Safe-load YAML into JSON data (str-keyed mappings, lists, str, int, finite float, bool,
    null); anything else (a syntax error, a duplicate key, a date, `.inf`, a tag that builds
    another type) is an InputError at FILE:LINE:COL."""
    import yaml
    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader subclass)
    except _YamlDataError as e:
        raise InputError(str(e), file=file, line=_where(e.mark)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "constructor for the tag" in what:  # e.g. !!python/object: never built, refused
            what = f"tag {what.split()[-1]} builds an object; only plain values are allowed"
        raise InputError(f"not valid YAML ({what})", file=file, line=_where(mark),
                         fix="see https://yaml.org/spec/1.2.2/ or quote the value") from None


def parse_override(text: str, file: str = "--set", example: str = "optim.lr=3e-4",
                   value_fix: str = "quote a string value, e.g. --set 'data.source=\"a: b\"'"
                   ) -> tuple[list[str], Any]:
    """'optim.lr=3e-4' -> (['optim', 'lr'], 0.0003): a `--set KEY=VALUE` with the value read as
    YAML (the run config's and the fit settings' --set both; `example` and `value_fix` are
    their fixes)."""
    key, eq, raw = text.partition("=")
    keys = key.strip().split(".")
    if not eq or not all(k.strip() for k in keys):
        raise InputError(f"'{text}' is not key=value", file=file,
                          fix=f"write e.g. --set {example}")
    keys = [k.strip() for k in keys]
    try:
        value = load_yaml_text(raw, file) if raw.strip() else ""
    except InputError as e:
        raise InputError(e.detail, file=file, key=".".join(keys),
                          fix=value_fix) from None
    return keys, value

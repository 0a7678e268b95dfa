"""YAML in, typed frozen dataclasses out, validated on load.

Every config class is a frozen dataclass whose fields carry a one-line doc in
`field(metadata={"doc": ...})`. `from_dict` checks unknown keys, types and each class's own
`validate()`; every error names the file and the dotted key. YAML is always safe-loaded.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, NamedTuple, Union, get_args, get_origin

from runstore import InputError, load_yaml_text, parse_override


def doc(text: str, default: Any = dataclasses.MISSING, **kw) -> Any:
    """A dataclass field with its one-line documentation."""
    if default is dataclasses.MISSING and "default_factory" not in kw:
        return dataclasses.field(metadata={"doc": text}, **kw)
    return dataclasses.field(default=default, metadata={"doc": text}, **kw)


def load_yaml(path: str | Path) -> dict:
    """Safe-load a non-empty YAML mapping (runstore.load_yaml_text: JSON data only,
    no duplicate keys); every error names the file."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a YAML file", file=str(path),
                          fix="give the config file itself, e.g. configs/sample_1m.yaml")
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise InputError("not a regular file (a pipe or a device)", file=str(path),
                          fix="save the config to a file and give its path")
    if not path.is_file():
        raise InputError("file not found", file=str(path), fix="check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start})", file=str(path),
                          fix="save the file as UTF-8") from None
    except OSError as e:
        raise InputError(f"unreadable ({e.strerror or e})", file=str(path)) from None
    data = load_yaml_text(text, str(path))
    if data is None:  # an empty file would otherwise train every default without a word
        raise InputError("the file is empty", file=str(path),
                          fix="write the keys that differ from the defaults (scaling config show)")
    if not isinstance(data, dict):
        raise InputError("the top level must be a mapping of keys to values", file=str(path))
    return data


def apply_overrides(data: dict, overrides: list[str], file: str = "--set") -> dict:
    """Return a deep copy of `data` with dotted `key=value` overrides applied."""
    data = json.loads(json.dumps(data))
    for text in overrides:
        keys, value = parse_override(text, file)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise InputError(f"'{k}' is not a section", file=file, key=".".join(keys))
        node[keys[-1]] = value
    return data


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


#: Integers a config may hold: int64, which numpy and the jitted step take; larger is refused,
#: not wrapped or left to hang (each field's validate() says its own, tighter range).
_INT_MAX = 2**63 - 1
_FLOAT_MAX = 1.7e308  # an int beyond this cannot become a float (OverflowError, not a message)


def _integer(value: Any, key: str, file: str) -> int:
    """An int, or a float that is a whole number (`4e6`, as YAML 1.2 reads it); int64 range."""
    if isinstance(value, bool) or not (isinstance(value, int) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer())):
        raise InputError(f"expected an integer, got {value!r}", file=file, key=key)
    if abs(value) > _INT_MAX:
        raise InputError("too large for an integer (at most 2**63 - 1)", file=file, key=key)
    return int(value)


def _coerce(value: Any, tp: Any, key: str, file: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key, file)
            except InputError as e:
                errors.append(e)
        raise errors[0]
    if origin is Literal:
        if value not in get_args(tp):
            raise InputError(f"{value!r} is not one of {_type_name(tp)}", file=file, key=key)
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"expected a list, got {value!r}", file=file, key=key)
        (inner, *rest) = get_args(tp) or (Any,)
        return tuple(_coerce(v, inner, f"{key}[{i}]", file) for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise InputError(f"expected a mapping, got {value!r}", file=file, key=key)
        return from_dict(tp, value, file=file, prefix=key)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"expected true or false, got {value!r}", file=file, key=key)
        return value
    if tp is int:
        return _integer(value, key, file)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"expected a number, got {value!r}", file=file, key=key)
        if abs(value) > _FLOAT_MAX or not math.isfinite(value):
            raise InputError(f"expected a finite number, got {value!r}", file=file, key=key)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"expected a string, got {value!r}", file=file, key=key)
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"expected a mapping, got {value!r}", file=file, key=key)
        return dict(value)
    raise TypeError(f"unsupported config type {tp} at {key}")


def from_dict(cls: type, data: dict, *, file: str = "<config>", prefix: str = ""):
    """Build dataclass `cls` from a mapping, checking keys, types and `cls.validate()`."""
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping, got {data!r}", file=file, key=prefix or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in data:
        if k not in fields:
            near = difflib.get_close_matches(str(k), list(fields), n=1)
            fix = f"did you mean '{near[0]}'?" if near else f"known keys: {', '.join(fields)}"
            raise InputError("unknown key", file=file, key=f"{prefix}.{k}" if prefix else str(k),
                              fix=fix)
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], key, file)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if dataclasses.is_dataclass(hints[name]):
                kwargs[name] = from_dict(hints[name], {}, file=file, prefix=key)
            else:
                raise InputError("missing required key", file=file, key=key,
                                  fix=f.metadata.get("doc"))
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except InputError as e:
            if e.file in (None, "<config>"):
                key = f"{prefix}.{e.key}" if (prefix and e.key) else (e.key or prefix or None)
                raise InputError(e.detail, file=file, key=key, fix=e.fix) from None
            raise
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain JSON-able dict (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


class FieldDoc(NamedTuple):
    """One documented config key: dotted key, type, default (as YAML would write it), doc."""

    key: str
    type: str
    default: str
    doc: str


def type_label(tp: Any) -> str:
    """A config type as a user writes it: int, float, list[float], clm | mlm, SizeRule | null."""
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(a) if a == "" else str(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(type_label(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = [a for a in get_args(tp) if a is not Ellipsis] or [Any]
        return f"list[{type_label(args[0])}]"
    if tp is dict or origin is dict:
        return "mapping"
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


def yaml_value(v: Any) -> str:
    """A default as it would be written in a YAML file: true, 0.003, 2_000_000, [clm], ''."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:_}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, float):
        return repr(v)  # 0.003, 1e-08, 64.0: read back as the same float
    if isinstance(v, str):
        return v if v and v.strip() == v and v[0] not in "[{'\"&*!|>%@`#" else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {yaml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def nested_config(tp: Any) -> tuple[type | None, str]:
    """(the dataclass a field holds, how its keys continue): X -> '.', X | None -> '.',
    tuple[X, ...] -> '[].'; (None, '') for a plain value."""
    if dataclasses.is_dataclass(tp):
        return tp, "."
    args = get_args(tp)
    if get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]):
            return inner[0], "."
    if get_origin(tp) in (tuple, list) and args and dataclasses.is_dataclass(args[0]):
        return args[0], "[]."
    return None, ""


def describe(cls: type, prefix: str = "") -> list[FieldDoc]:
    """Every key of config class `cls` with its type, default and doc, nested sections
    flattened into dotted keys (for `scaling config show` and the README).

    A section (a nested dataclass) has no row of its own, its fields do; an optional section
    (`SizeRule | None`) or a list of sections (`tuple[ExtraSeeds, ...]`) has a row for the key
    itself, then rows for its fields (`recipe.lr.rule`, `extra_seeds[].seeds`). Defaults are
    the field's own: a key left out of a section that is given takes this value.
    """
    rows: list[FieldDoc] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        inner, sep = nested_config(tp)
        if inner is not None and sep == "." and dataclasses.is_dataclass(tp):
            rows += describe(tp, key)
            continue
        if f.default is not dataclasses.MISSING:
            default = yaml_value(to_dict(f.default))
        elif f.default_factory is not dataclasses.MISSING:
            default = yaml_value(to_dict(f.default_factory()))
        else:
            default = "required"
        rows.append(FieldDoc(key, type_label(tp), default, f.metadata.get("doc", "")))
        if inner is not None:
            rows += describe(inner, key + sep[:-1])
    return rows

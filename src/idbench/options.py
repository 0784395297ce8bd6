"""One declared schema for every option: the study's own keys and each protocol's options.

An :class:`Option` is declared once (name, type, default, allowed values, help). The CLI flags,
a study file's top-level keys and ``[options.<protocol>]`` tables, and the Python API
(:class:`idbench.study.Study`) are all checked against these declarations:

* an unknown key or section is an error naming it and the closest known ones;
* a value of the wrong type is an error naming the key and the expected type (``"false"`` is not
  a boolean, ``5`` is not a list of encoders);
* a list may be written as a comma-separated string (``protocols = "similarity,rca"``).

>>> opt = Option("n_views", "int", 3, "views per sample", minimum=2)
>>> opt.check(4, "nearid")
4
>>> opt.check("4", "nearid")
Traceback (most recent call last):
...
idbench.options.OptionError: nearid.n_views: expected an integer, got '4' (str)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from idbench.registry import did_you_mean

_TYPE_NAMES = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
               "path": "a path (string)",
               "name": "a name usable as one folder (no / or \\, not . or ..)", "list": "a list of strings (or one comma-separated string)", "table": "a table"}


class OptionError(ValueError):
    """An option that is unknown or has the wrong type or value (the message names it)."""


@dataclass(frozen=True)
class Option:
    """One option: ``type`` is one of ``bool``, ``int``, ``float``, ``str``, ``path``, ``list``."""

    name: str
    type: str
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = True  # None (not given) is allowed and means the default
    flag: str | None = None  # the CLI flag, when it is not --<name with dashes>

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def check(self, value: Any, where: str = "") -> Any:
        """``value`` validated (lists normalised); :class:`OptionError` naming ``where.name`` otherwise."""
        key = f"{where}.{self.name}" if where else self.name
        if value is None:
            if not self.nullable:
                raise OptionError(f"{key}: a value is required ({_TYPE_NAMES[self.type]})")
            return None
        t = self.type
        bad = OptionError(f"{key}: expected {_TYPE_NAMES[t]}, got {value!r} ({type(value).__name__})")
        if t == "bool":
            if not isinstance(value, bool):
                raise bad
        elif t == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad
        elif t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad
            value = float(value)
        elif t == "name":
            if not is_segment(value):
                raise bad
        elif t in ("str", "path"):
            if t == "path" and hasattr(value, "__fspath__"):
                return value
            if not isinstance(value, str) or not value.strip():
                raise bad
        elif t == "list":
            if isinstance(value, str):
                value = [x.strip() for x in value.split(",") if x.strip()]
            elif isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
                value = [x.strip() for x in value if x.strip()]
            else:
                raise bad
            if not value:
                raise OptionError(f"{key}: the list is empty; give at least one value or leave the key out")
        if self.minimum is not None and value < self.minimum:
            raise OptionError(f"{key}: must be at least {self.minimum}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise OptionError(f"{key}: must be at most {self.maximum}, got {value!r}")
        if self.choices is not None:
            items = value if t == "list" else [value]
            for v in items:
                if v not in self.choices:
                    raise OptionError(f"{key}: {v!r} is not one of {', '.join(map(str, self.choices))}"
                                      f"{did_you_mean(str(v), [str(c) for c in self.choices])}")
        return value

    def describe(self) -> str:
        extra = f" [{'|'.join(map(str, self.choices))}]" if self.choices else ""
        return f"{self.name} ({self.type}, default {self.default!r}){extra}: {self.help}"


def is_segment(value: Any) -> bool:
    """Whether ``value`` is a name that is exactly one path segment (a method's folder): a non-empty
    string without ``/``, ``\\`` or NUL, not ``.`` or ``..``, not starting with ``~``.

    >>> is_segment("dreambooth-sd1.5"), is_segment("../x"), is_segment("/abs"), is_segment("..")
    (True, False, False, False)
    """
    return (isinstance(value, str) and bool(value.strip()) and value == value.strip() and value not in (".", "..")
            and not any(c in value for c in "/\\\0") and not value.startswith("~"))


def check_table(table: Any, schema: Iterable[Option], where: str, *, required: bool = False) -> dict[str, Any]:
    """A dict of options checked against ``schema``: unknown keys and wrong types are errors.
    Keys not given are left out (the protocol uses the declared default); with ``required``, a
    non-nullable option that is not given is an error too."""
    schema = list(schema)
    if not isinstance(table, Mapping):
        raise OptionError(f"{where}: expected a table of options, got {table!r} ({type(table).__name__})")
    by_name = {o.name: o for o in schema}
    out = {}
    for k, v in table.items():
        if k not in by_name:
            raise OptionError(f"{where}: unknown option {k!r}{did_you_mean(str(k), list(by_name))}; "
                              f"known: {', '.join(sorted(by_name)) or 'none'}")
        out[k] = by_name[k].check(v, where)
    if required:
        for o in schema:
            if not o.nullable and out.get(o.name) is None:
                raise OptionError(f"{where}: {o.name!r} is required ({o.help})")
    return out


def defaults(schema: Iterable[Option]) -> dict[str, Any]:
    return {o.name: o.default for o in schema}

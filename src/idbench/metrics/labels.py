"""Identity labels: one type per array, compared as written, and helpful names for the missing.

A label is the value as written: the string ``"1.0"`` is not the string ``"1"``, and the metric
functions never compare ``str()`` forms of values of different types (``1`` vs ``1.0`` vs ``"1"``).
Instead they reject arrays that mix types, with a message that says which types were mixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class UnknownLabelError(ValueError):
    """Query labels that the gallery / oracle does not have, named with the closest existing ones."""


def _kind(x) -> str:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        return "int"
    if isinstance(x, float):
        return "float"
    if isinstance(x, str):
        return "str"
    return type(x).__name__


_ARRAY_KINDS = frozenset("biuU")  # numpy dtypes whose values are bool, int or str (one type per array)
_PLAIN_TYPES = frozenset((bool, int, float, str))


def check_label_types(*arrays: Sequence, names: Sequence[str] | None = None) -> str | None:
    """Raise ``ValueError`` unless every label in every array has one type (bool, int, float, str, ...).

    Returns the common type name (``None`` for empty input).

    >>> check_label_types(["a", "b"], ["b"])
    'str'
    >>> check_label_types([1, 2], [1.0])
    Traceback (most recent call last):
    ...
    ValueError: labels mix types float and int (e.g. 1.0, 1): convert them to one type first; idbench compares labels as written
    """
    kinds: dict[str, object] = {}
    for arr in arrays:
        if isinstance(arr, np.ndarray) and arr.dtype.kind in _ARRAY_KINDS:  # one type by construction
            if arr.size:
                kinds.setdefault(_kind(arr.flat[0]), arr.flat[0].item())
            continue
        values = arr.tolist() if isinstance(arr, np.ndarray) else arr
        types = set(map(type, values))  # one C-level pass; each plain type named from one of its values
        if types <= _PLAIN_TYPES:
            for t in types:
                x = next(x for x in values if type(x) is t)
                kinds.setdefault(_kind(x), x)
            continue
        for x in values:
            kinds.setdefault(_kind(x), x)
    if len(kinds) > 1:
        names_ = sorted(kinds)
        examples = ", ".join(repr(kinds[k]) for k in names_[:3])
        raise ValueError(f"labels mix types {' and '.join(names_)} (e.g. {examples}): convert them to one type first; "
                         "idbench compares labels as written")
    return next(iter(kinds), None)


def encode_labels(*arrays: Sequence) -> list[np.ndarray]:
    """Integer codes (shared across ``arrays``) for labels of one type, by equality of the values.

    >>> [c.tolist() for c in encode_labels(["b", "a"], ["a", "c"])]
    [[0, 1], [1, 2]]
    >>> [c.tolist() for c in encode_labels(np.array(["b", "a"]), np.array(["a", "c"]))]
    [[0, 1], [1, 2]]
    """
    check_label_types(*arrays)
    if arrays and all(isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype.kind in _ARRAY_KINDS for a in arrays):
        # plain arrays (one type, checked above): np.unique, codes in order of first appearance as below
        values, first, inverse = np.unique(np.concatenate(arrays), return_index=True, return_inverse=True)
        rank = np.empty(len(values), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(values))
        codes = rank[inverse.ravel()]
        return np.split(codes, np.cumsum([len(a) for a in arrays])[:-1])
    table: dict = {}
    out = []
    for arr in arrays:
        vals = arr.tolist() if isinstance(arr, np.ndarray) else list(arr)
        out.append(np.array([table.setdefault(v, len(table)) for v in vals], dtype=np.int64))
    return out


def _numeric_form(s: str) -> float | None:
    try:
        f = float(s)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def normal_form(s: str) -> str:
    """The form two labels that 'differ only in form' share: case-folded, trimmed, one space,
    and numbers by value (``"1"``, ``"1.0"`` and ``" 1 "`` share ``"1"``)."""
    s = " ".join(str(s).split()).casefold()
    f = _numeric_form(s)
    if f is not None:
        return repr(int(f)) if f.is_integer() else repr(f)
    return s


def near_identical(a: str, b: str) -> bool:
    """Whether two different labels are likely one label mistyped: the same normal form (case,
    spacing, number format), or one edit apart (a letter added, dropped, changed or two swapped)
    where the edit touches no digit and both have at least 4 characters (``dog3`` and ``dog8``,
    ``method1`` and ``method2`` are different names, not typos).

    >>> near_identical("faithful", "faithfull"), near_identical("1", "1.0"), near_identical("dog", "dog8")
    (True, True, False)
    """
    a, b = str(a), str(b)
    if a == b:
        return False
    if normal_form(a) == normal_form(b):
        return True
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    x, y = a.casefold(), b.casefold()
    i = 0
    while i < min(len(x), len(y)) and x[i] == y[i]:
        i += 1
    j = 0
    while j < min(len(x), len(y)) - i and x[-1 - j] == y[-1 - j]:
        j += 1
    dx, dy = x[i:len(x) - j], y[i:len(y) - j]
    if len(dx) == len(dy) == 2 and dx == dy[::-1]:
        touched = dx
    elif len(dx) <= 1 and len(dy) <= 1:
        touched = dx + dy
    else:
        return False
    return not any(ch.isdigit() for ch in touched)


def closest_labels(label: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Known labels a user most likely meant: only near-identical ones (:func:`near_identical`);
    a label that is merely similar (``dog`` and ``dog8``) is another label, and never suggested."""
    known = list(dict.fromkeys(str(k) for k in known))
    nf = normal_form(label)
    same = [k for k in known if normal_form(k) == nf and k != str(label)]
    close = [k for k in known if near_identical(label, k) and k not in same]
    return (same + close)[:n]


def describe_missing(missing: Iterable[str], known: Iterable[str], what: str, limit: int = 8) -> str:
    """``"'1.0' not in the gallery (did you mean '1'?); 'cat' not in the gallery"``."""
    known = list(known)
    parts = []
    missing = sorted(set(missing))
    for m in missing[:limit]:
        sugg = closest_labels(m, known)
        parts.append(f"{m!r} not in {what}" + (f" (did you mean {' or '.join(repr(s) for s in sugg)}?)" if sugg else ""))
    more = f"; and {len(missing) - limit} more" if len(missing) > limit else ""
    return "; ".join(parts) + more


def form_conflicts(values: Iterable[str]) -> list[list[str]]:
    """Groups of distinct labels that differ only in form (case, spacing, number format).

    >>> form_conflicts(["1", "1.0", "2", "Dog", "dog "])
    [['1', '1.0'], ['Dog', 'dog ']]
    """
    by: dict[str, set[str]] = {}
    for v in values:
        by.setdefault(normal_form(v), set()).add(v)
    return sorted([sorted(g) for g in by.values() if len(g) > 1])

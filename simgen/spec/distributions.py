"""Distribution-valued scenario fields.

Any numeric or categorical field may hold a constant or one of::

    {uniform: [a, b]}                      # continuous, a <= x <= b
    {normal: {mean, std, min, max}}        # truncated normal (min/max optional)
    {loguniform: [a, b]}                   # log x uniform, 0 < a <= b
    {randint: [a, b]}                      # integer, a <= x <= b (both inclusive)
    {choice: [v1, v2, ...], weights: [...]}  # categorical, weights optional

The spec turns each into a frozen dataclass below; drawing values lives in
``simgen.sampling`` (the spec never draws).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from simgen.errors import did_you_mean


@dataclass(frozen=True)
class Const:
    """A fixed value."""

    value: Any


@dataclass(frozen=True)
class Uniform:
    """Continuous uniform on [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class Normal:
    """Normal(mean, std) truncated to [min, max] (infinite bounds when absent)."""

    mean: float
    std: float
    min: float = -math.inf
    max: float = math.inf


@dataclass(frozen=True)
class LogUniform:
    """log(x) uniform on [log low, log high]."""

    low: float
    high: float


@dataclass(frozen=True)
class RandInt:
    """Integer uniform on {low, ..., high} (both inclusive)."""

    low: int
    high: int


@dataclass(frozen=True)
class Choice:
    """One of ``options`` with probabilities ``weights`` (normalised; equal when absent)."""

    options: tuple[Any, ...]
    weights: tuple[float, ...] | None = None


Dist = Const | Uniform | Normal | LogUniform | RandInt | Choice
DIST_KEYS = ("uniform", "normal", "loguniform", "randint", "choice")


def dist_to_yaml(dist: Dist) -> Any:
    """The YAML/JSON form of a distribution (how the resolved scenario is recorded)."""
    if isinstance(dist, Const):
        return dist.value
    if isinstance(dist, Uniform):
        return {"uniform": [dist.low, dist.high]}
    if isinstance(dist, LogUniform):
        return {"loguniform": [dist.low, dist.high]}
    if isinstance(dist, RandInt):
        return {"randint": [dist.low, dist.high]}
    if isinstance(dist, Normal):
        out: dict[str, float] = {"mean": dist.mean, "std": dist.std}
        if math.isfinite(dist.min):
            out["min"] = dist.min
        if math.isfinite(dist.max):
            out["max"] = dist.max
        return {"normal": out}
    out_c: dict[str, Any] = {"choice": list(dist.options)}
    if dist.weights is not None:
        out_c["weights"] = list(dist.weights)
    return out_c


def _fail(message: str, subpath: str = "") -> PydanticCustomError:
    return PydanticCustomError("distribution", message, {"subpath": subpath})


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _pair(raw: Any, key: str) -> tuple[float, float]:
    if not (isinstance(raw, list | tuple) and len(raw) == 2 and all(_is_number(v) for v in raw)):
        raise _fail(f"{key} needs a list of two numbers [low, high], got {raw!r}", key)
    low, high = float(raw[0]), float(raw[1])
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _fail(f"{key} bounds must be finite, got {raw!r}", key)
    if low > high:
        raise _fail(f"{key} needs low <= high, got [{raw[0]}, {raw[1]}]", key)
    return low, high


def _parse_dist_mapping(raw: dict, integer: bool) -> Dist:
    keys = set(raw)
    if "choice" in keys:
        extra = keys - {"choice", "weights"}
        if extra:
            bad = sorted(extra)[0]
            raise _fail(f"unknown key '{bad}' in choice (allowed: choice, weights)", bad)
        options = raw["choice"]
        if not isinstance(options, list) or not options:
            raise _fail("choice needs a non-empty list of options", "choice")
        weights = raw.get("weights")
        if weights is not None:
            if not (isinstance(weights, list) and all(_is_number(w) for w in weights)):
                raise _fail("weights must be a list of numbers", "weights")
            if len(weights) != len(options):
                raise _fail(
                    f"weights has {len(weights)} entries but choice has {len(options)}",
                    "weights",
                )
            if any(w < 0 for w in weights) or sum(weights) <= 0:
                raise _fail("weights must be >= 0 with a positive sum", "weights")
            weights = tuple(float(w) for w in weights)
        return Choice(tuple(options), weights)
    if len(keys) != 1:
        raise _fail(
            f"a distribution has exactly one of {', '.join(DIST_KEYS)}; got keys {sorted(keys)}"
        )
    (key,) = keys
    if key not in DIST_KEYS:
        raise _fail(f"unknown distribution '{key}'{did_you_mean(key, DIST_KEYS)}", key)
    body = raw[key]
    if key == "uniform":
        return Uniform(*_pair(body, key))
    if key == "loguniform":
        low, high = _pair(body, key)
        if low <= 0:
            raise _fail(f"loguniform needs 0 < low, got {low:g}", key)
        return LogUniform(low, high)
    if key == "randint":
        low, high = _pair(body, key)
        if low != int(low) or high != int(high):
            raise _fail(f"randint needs integer bounds, got {body!r}", key)
        return RandInt(int(low), int(high))
    # normal
    if not isinstance(body, dict):
        raise _fail("normal needs a mapping {mean, std, min, max}", key)
    unknown = set(body) - {"mean", "std", "min", "max"}
    if unknown:
        bad = sorted(unknown)[0]
        suggestion = did_you_mean(bad, ["mean", "std", "min", "max"])
        raise _fail(f"unknown key '{bad}' in normal{suggestion}", f"normal.{bad}")
    for need in ("mean", "std"):
        if need not in body:
            raise _fail(f"normal needs '{need}'", "normal")
    for k, v in body.items():
        if not _is_number(v):
            raise _fail(f"normal.{k} must be a number, got {v!r}", f"normal.{k}")
    dist = Normal(
        float(body["mean"]),
        float(body["std"]),
        float(body.get("min", -math.inf)),
        float(body.get("max", math.inf)),
    )
    if dist.std <= 0:
        raise _fail(f"normal.std must be > 0, got {dist.std:g}", "normal.std")
    if dist.min >= dist.max:
        raise _fail(f"normal needs min < max, got [{dist.min:g}, {dist.max:g}]", "normal")
    return dist


def support(dist: Dist) -> tuple[float, float] | None:
    """Smallest and largest value a numeric distribution can produce."""
    if isinstance(dist, Uniform | LogUniform | RandInt):
        return float(dist.low), float(dist.high)
    if isinstance(dist, Normal):
        return dist.min, dist.max
    return None


def _bounds_message(ge: float | None, gt: float | None, le: float | None, lt: float | None):
    parts = []
    if ge is not None:
        parts.append(f">= {ge:g}")
    if gt is not None:
        parts.append(f"> {gt:g}")
    if le is not None:
        parts.append(f"<= {le:g}")
    if lt is not None:
        parts.append(f"< {lt:g}")
    return " and ".join(parts)


def _numeric_validator(
    integer: bool, ge: float | None, gt: float | None, le: float | None, lt: float | None
) -> Callable[[Any], Dist]:
    def in_range(x: float) -> bool:
        return not (
            (ge is not None and x < ge)
            or (gt is not None and x <= gt)
            or (le is not None and x > le)
            or (lt is not None and x >= lt)
        )

    kind = "an integer" if integer else "a number"

    def check_const(x: Any, subpath: str = "") -> Any:
        if integer:
            if isinstance(x, float) and x.is_integer():
                x = int(x)
            if not isinstance(x, int) or isinstance(x, bool):
                raise _fail(f"expected {kind} or a distribution, got {x!r}", subpath)
        elif not _is_number(x):
            raise _fail(f"expected {kind} or a distribution, got {x!r}", subpath)
        else:
            x = float(x)
            if not math.isfinite(x):
                raise _fail(f"expected a finite number, got {x!r}", subpath)
        if not in_range(x):
            raise _fail(f"must be {_bounds_message(ge, gt, le, lt)}, got {x:g}", subpath)
        return x

    def validate(raw: Any) -> Dist:
        if isinstance(raw, Const | Uniform | Normal | LogUniform | RandInt | Choice):
            return raw
        if not isinstance(raw, dict):
            return Const(check_const(raw))
        dist = _parse_dist_mapping(raw, integer)
        if isinstance(dist, Choice):
            opts = tuple(check_const(v, f"choice[{i}]") for i, v in enumerate(dist.options))
            return Choice(opts, dist.weights)
        if integer and not isinstance(dist, RandInt):
            raise _fail("an integer field takes a constant, randint or choice")
        bounds = support(dist)
        assert bounds is not None
        lo, hi = bounds
        if not (in_range(lo) and in_range(hi)):
            key = next(k for k in DIST_KEYS if k in raw)
            raise _fail(
                f"every value drawn must be {_bounds_message(ge, gt, le, lt)}, but {key} "
                f"spans [{lo:g}, {hi:g}]" + (" (set min/max)" if key == "normal" else ""),
                key,
            )
        return dist

    return validate


_DIST_SCHEMA = [
    {
        "type": "object",
        "properties": {"uniform": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                   "maxItems": 2}},
        "required": ["uniform"], "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"normal": {
            "type": "object",
            "properties": {k: {"type": "number"} for k in ("mean", "std", "min", "max")},
            "required": ["mean", "std"], "additionalProperties": False}},
        "required": ["normal"], "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"loguniform": {"type": "array", "items": {"type": "number"},
                                      "minItems": 2, "maxItems": 2}},
        "required": ["loguniform"], "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"randint": {"type": "array", "items": {"type": "integer"},
                                   "minItems": 2, "maxItems": 2}},
        "required": ["randint"], "additionalProperties": False,
    },
]


def _choice_schema(item: dict) -> dict:
    return {
        "type": "object",
        "properties": {"choice": {"type": "array", "items": item, "minItems": 1},
                       "weights": {"type": "array", "items": {"type": "number"}}},
        "required": ["choice"], "additionalProperties": False,
    }


def Number(  # noqa: N802  (a type factory reads like a type)
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A float field that also accepts any distribution (bounds checked on its support)."""
    item: dict[str, Any] = {"type": "number"}
    for key, val in (("minimum", ge), ("exclusiveMinimum", gt), ("maximum", le),
                     ("exclusiveMaximum", lt)):
        if val is not None:
            item[key] = val
    schema = {"anyOf": [item, *_DIST_SCHEMA, _choice_schema(item)]}
    return Annotated[
        Any, BeforeValidator(_numeric_validator(False, ge, gt, le, lt)), WithJsonSchema(schema)
    ]


def Integer(*, ge: int | None = None, le: int | None = None) -> Any:  # noqa: N802
    """An integer field that also accepts ``randint`` or ``choice``."""
    item: dict[str, Any] = {"type": "integer"}
    if ge is not None:
        item["minimum"] = ge
    if le is not None:
        item["maximum"] = le
    schema = {"anyOf": [item, _DIST_SCHEMA[3], _choice_schema(item)]}
    return Annotated[
        Any, BeforeValidator(_numeric_validator(True, ge, None, le, None)), WithJsonSchema(schema)
    ]


def Category(check: Callable[[Any], Any], item_schema: dict) -> Any:  # noqa: N802
    """A categorical field: a constant or ``{choice: [...]}``, each option passed to ``check``.

    ``check`` returns the normalised option or raises ``ValueError`` with a message.
    """

    def validate(raw: Any) -> Dist:
        if isinstance(raw, Const | Choice):
            return raw
        if isinstance(raw, dict) and set(raw) & set(DIST_KEYS):
            dist = _parse_dist_mapping(raw, integer=False)
            if not isinstance(dist, Choice):
                raise _fail("a categorical field takes a constant or {choice: [...]}")
            options = []
            for i, option in enumerate(dist.options):
                try:
                    options.append(check(option))
                except ValueError as exc:
                    raise _fail(str(exc), f"choice[{i}]") from None
            return Choice(tuple(options), dist.weights)
        try:
            return Const(check(raw))
        except ValueError as exc:
            raise _fail(str(exc)) from None

    schema = {"anyOf": [item_schema, _choice_schema(item_schema)]}
    return Annotated[Any, BeforeValidator(validate), WithJsonSchema(schema)]


def one_of(names: list[str] | tuple[str, ...], what: str) -> Callable[[Any], str]:
    """A ``Category`` check accepting one of ``names``, with a did-you-mean suggestion."""

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in names:
            raise ValueError(
                f"unknown {what} {value!r}{did_you_mean(str(value), names)}; "
                f"choose from {', '.join(names)}"
            )
        return value

    return check


def smallest_int(dist: Dist) -> int:
    """The smallest value an integer field (constant, randint or choice) can take."""
    if isinstance(dist, Const):
        return int(dist.value)
    return int(dist.low) if isinstance(dist, RandInt) else int(min(dist.options))


def largest_int(dist: Dist) -> int:
    """The largest value an integer field (constant, randint or choice) can take."""
    if isinstance(dist, Const):
        return int(dist.value)
    return int(dist.high) if isinstance(dist, RandInt) else int(max(dist.options))


def _check_range(raw: Any) -> Dist:
    if isinstance(raw, Uniform | Normal | LogUniform | RandInt | Choice):
        return raw
    if isinstance(raw, list | tuple):
        return Uniform(*_pair(raw, "range"))
    if not isinstance(raw, dict):
        raise _fail(f"a range is [low, high] or a distribution, got {raw!r}")
    dist = _parse_dist_mapping(raw, integer=False)
    if isinstance(dist, Normal) and not (math.isfinite(dist.min) and math.isfinite(dist.max)):
        raise _fail("a normal range needs min and max (a sweep covers a bounded range)", "normal")
    return dist


def Range() -> Any:  # noqa: N802  (a type factory reads like a type)
    """A bounded range to sweep over: ``[low, high]`` (uniform) or any distribution with
    bounded support (``normal`` with ``min`` and ``max``)."""
    pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    schema = {"anyOf": [pair, *_DIST_SCHEMA, _choice_schema({})]}
    return Annotated[Any, BeforeValidator(_check_range), WithJsonSchema(schema)]

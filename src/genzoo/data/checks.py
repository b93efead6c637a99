"""Validation of user-given dataset options; each failure is a one-line :class:`ConfigError`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from genzoo.errors import ConfigError


def as_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an int (bools and fractions refused) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"option {name!r} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"option {name!r} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"option {name!r} must be <= {maximum}, got {value}")
    return value


def as_float(name: str, value: object, *, minimum: float | None = None) -> float:
    """``value`` as a finite float, at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"option {name!r} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"option {name!r} must be >= {minimum}, got {value}")
    return float(value)


def as_path(name: str, value: object) -> Path:
    """``value`` as a path (``~`` expanded)."""
    if not isinstance(value, str | Path) or not str(value):
        raise ConfigError(f"option {name!r} must be a file or folder path, got {value!r}")
    return Path(value).expanduser()


def as_range(name: str, value: object) -> tuple[float, float]:
    """``value`` as a ``(low, high)`` pair of finite numbers with ``low < high``."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigError(f"option {name!r} must be a pair [low, high], got {value!r}")
    lo, hi = (as_float(name, v) for v in value)
    if not lo < hi:
        raise ConfigError(f"option {name!r} must have low < high, got {value!r}")
    return lo, hi


def as_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """``value`` if it is one of ``choices``."""
    if value not in choices or isinstance(value, bool):
        valid = ", ".join(map(str, choices))
        raise ConfigError(f"option {name!r} must be one of {valid}, got {value!r}")
    return value

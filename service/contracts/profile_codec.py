"""Compact storage of profile arrays, and their JSON form.

A profile is float32 bytes per metric (4 bytes a value): float64 is kept only
when a finite value would not survive float32 (a float64 model's 1e-60
signal must not read 0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # smallest normal: below it precision drops
FLOAT32_MAX = float(np.finfo(np.float32).max)


def storage_dtype(values: np.ndarray) -> str:
    if values.dtype.kind in "iu":
        return "int64"
    finite = np.abs(values[np.isfinite(values)])
    nonzero = finite[finite > 0]
    if nonzero.size and (nonzero.min() < FLOAT32_TINY or nonzero.max() > FLOAT32_MAX):
        return "float64"
    return "float32"


def encode(values: Any, exact: bool = False) -> tuple[str, list[int], bytes]:
    """`exact` keeps float64 (for the few loss and accuracy values, which
    people read as numbers and should not see as 2.299999952)."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        array = array.astype(np.float64)
    dtype = "float64" if exact and array.dtype.kind == "f" else storage_dtype(array)
    stored = array.astype(np.dtype(dtype).newbyteorder("<"))
    return dtype, list(stored.shape), stored.tobytes()


def decode(dtype: str, shape: list[int], data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def to_json_values(array: np.ndarray) -> Any:
    """Nested lists with None where a value is NaN or infinite (JSON has neither)."""
    if array.dtype.kind in "iu":
        return array.tolist()
    return _nullify(array.astype(np.float64).tolist())


def _nullify(value: Any) -> Any:
    if isinstance(value, list):
        return [_nullify(item) for item in value]
    return value if math.isfinite(value) else None


def csv_number(value: float) -> str:
    """`nan`, `inf`, `-inf` spelled out, finite values with full precision."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))

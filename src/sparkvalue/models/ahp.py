"""Analytic Hierarchy Process: weights from pairwise comparison matrices (Saaty).

The weights are the principal (Perron) eigenvector of the positive reciprocal
matrix, normalised to sum to 1. Consistency: CI = (lambda_max - n) / (n - 1),
CR = CI / RI(n) with Saaty's random indices; a matrix with CR >= 0.1 is refused,
because its weights would not mean anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# Saaty's random consistency index by matrix order (1..15).
RANDOM_INDEX = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49, 1.51, 1.48, 1.56, 1.57, 1.59)
MAX_CONSISTENCY_RATIO = 0.1


class AhpError(ValueError):
    """A comparison matrix that cannot give weights."""


@dataclass(frozen=True)
class AhpResult:
    names: tuple[str, ...]
    weights: tuple[float, ...]
    lambda_max: float
    consistency_index: float
    consistency_ratio: float

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.weights, strict=True))


def _number(value: object, *, name: str, row: int, col: int) -> float:
    try:
        number = float(Fraction(value)) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise AhpError(f"{name}: entry [{row}][{col}] = {value!r} is not a number "
                       "(use e.g. 3 or '1/3')") from None
    if not number > 0 or not np.isfinite(number):
        raise AhpError(f"{name}: entry [{row}][{col}] = {value!r} must be a positive number")
    return number


def ahp_weights(matrix: Sequence[Sequence[object]], names: Sequence[str], *, name: str,
                max_cr: float = MAX_CONSISTENCY_RATIO) -> AhpResult:
    """Weights, lambda_max, CI and CR of one comparison matrix; raises AhpError if unusable."""
    n = len(names)
    if n == 0 or n > len(RANDOM_INDEX):
        raise AhpError(f"{name}: {n} names; a comparison matrix compares 1..{len(RANDOM_INDEX)} items")
    if len(set(names)) != n:
        raise AhpError(f"{name}: names repeat: {list(names)}")
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise AhpError(f"{name}: the matrix must be {n}x{n} to compare {list(names)}")
    a = np.array([[_number(v, name=name, row=i, col=j) for j, v in enumerate(row)]
                  for i, row in enumerate(matrix)])
    for i in range(n):
        if not np.isclose(a[i, i], 1.0):
            raise AhpError(f"{name}: diagonal entry [{i}][{i}] is {a[i, i]:g}; "
                           "an item compared with itself is 1")
        for j in range(i + 1, n):
            if not np.isclose(a[i, j] * a[j, i], 1.0, rtol=1e-3):
                raise AhpError(f"{name}: entries [{i}][{j}] = {a[i, j]:g} and [{j}][{i}] = {a[j, i]:g} "
                               "are not reciprocal")
    values, vectors = np.linalg.eig(a)
    k = int(np.argmax(values.real))
    lambda_max = float(values[k].real)
    vector = np.abs(vectors[:, k].real)
    weights = vector / vector.sum()
    ci = (lambda_max - n) / (n - 1) if n > 2 else 0.0
    cr = ci / RANDOM_INDEX[n - 1] if n > 2 else 0.0
    if cr >= max_cr:
        raise AhpError(f"{name}: consistency ratio {cr:.3f} >= {max_cr} (lambda_max {lambda_max:.3f}); "
                       "the judgements contradict each other, revise the matrix")
    return AhpResult(tuple(names), tuple(float(w) for w in weights), lambda_max, max(ci, 0.0), max(cr, 0.0))


def combine(groups: AhpResult, members: dict[str, AhpResult]) -> dict[str, float]:
    """Global weight of each leaf indicator: group weight x weight within the group."""
    missing = sorted(set(groups.names) - set(members))
    if missing:
        raise AhpError(f"no member matrix for group(s) {missing}")
    group_weight = groups.as_dict()
    return {leaf: group_weight[g] * w for g in groups.names for leaf, w in members[g].as_dict().items()}

"""Counter-based random numbers as Spark column expressions.

Every draw is a hash of (seed, stream name, keys): the same subscriber gets the
same value whatever the partitioning, the number of executors or the order in
which months are generated. No state, no driver-side lists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_TWO_53 = float(2**53)


def uniform(seed: int, stream: str, *keys: Column | str | int) -> Column:
    """U[0, 1) from the hash of the seed, a stream name and the keys."""
    cols = [k if isinstance(k, Column) else (F.lit(k) if isinstance(k, int) else F.col(k)) for k in keys]
    h = F.xxhash64(F.lit(seed), F.lit(stream), *cols)
    return F.shiftrightunsigned(h, 11).cast("double") / F.lit(_TWO_53)


def normal(seed: int, stream: str, *keys: Column | str | int) -> Column:
    """Standard normal by Box-Muller from two independent uniforms."""
    u1 = F.greatest(uniform(seed, stream + ":1", *keys), F.lit(1e-12))
    u2 = uniform(seed, stream + ":2", *keys)
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)


def lognormal(seed: int, stream: str, *keys: Column | str | int, sigma: float) -> Column:
    """Log-normal with mean 1 and the given log-scale standard deviation."""
    return F.exp(normal(seed, stream, *keys) * sigma - sigma * sigma / 2.0)


def geometric(u: Column, p: Column | float) -> Column:
    """Number of failures before the first success of probability `p` (0, 1, 2, ...)."""
    prob = p if isinstance(p, Column) else F.lit(p)
    return F.floor(F.log(F.greatest(u, F.lit(1e-12))) / F.log(1.0 - prob)).cast("int")


def categorical(u: Column, labels: Sequence[str], weights: Sequence[float]) -> Column:
    """One of `labels` drawn with the (normalised) `weights` from the uniform `u`."""
    total = float(sum(weights))
    expr = None
    cumulative = 0.0
    for label, weight in zip(labels[:-1], weights[:-1], strict=True):
        cumulative += weight / total
        expr = (F.when(u < cumulative, F.lit(label)) if expr is None
                else expr.when(u < cumulative, F.lit(label)))
    last = F.lit(labels[-1])
    return last if expr is None else expr.otherwise(last)


def pick(u: Column, values: Sequence[float | int | str]) -> Column:
    """Uniform choice among `values`."""
    arr = F.array(*[F.lit(v) for v in values])
    return F.element_at(arr, (F.floor(u * len(values)) + 1).cast("int"))

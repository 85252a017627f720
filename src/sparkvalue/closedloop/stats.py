"""Two-proportion statistics as Spark column expressions (no UDF, nothing collected).

`lift_columns(n_t, x_t, n_c, x_c)` gives the response rates of treatment and control, the
absolute lift (difference) with a Wald confidence interval, the relative lift, and the
two-sided p-value of the pooled z-test. The normal CDF uses Abramowitz & Stegun 7.1.26
(absolute error below 1.5e-7).
"""

from __future__ import annotations

import math

from pyspark.sql import Column
from pyspark.sql import functions as F

Z_95 = 1.959963984540054


def normal_cdf(z: Column) -> Column:
    """Phi(z) for a standard normal, A&S 7.1.26 on erf."""
    x = F.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * F.exp(-x * x)
    return F.when(z >= 0, 0.5 * (1.0 + erf)).otherwise(0.5 * (1.0 - erf))


def lift_columns(n_t: Column, x_t: Column, n_c: Column, x_c: Column, z: float = Z_95) -> dict[str, Column]:
    """Rates, absolute lift with its interval, relative lift, z and p-value (null where undefined)."""
    div = F.try_divide  # ANSI mode: an empty arm gives null, not an error
    p_t = div(x_t, n_t)
    p_c = div(x_c, n_c)
    diff = p_t - p_c
    se = F.sqrt(div(p_t * (1 - p_t), n_t) + div(p_c * (1 - p_c), n_c))
    pooled = div(x_t + x_c, n_t + n_c)
    se0 = F.sqrt(pooled * (1 - pooled) * (div(F.lit(1.0), n_t) + div(F.lit(1.0), n_c)))
    z_stat = F.when(se0 > 0, div(diff, se0))
    return {
        "response_rate_treatment": p_t,
        "response_rate_control": p_c,
        "lift": diff,
        "lift_low": diff - z * se,
        "lift_high": diff + z * se,
        "relative_lift": div(p_t, p_c) - 1,
        "z": z_stat,
        "p_value": 2 * (1 - normal_cdf(F.abs(z_stat))),
    }

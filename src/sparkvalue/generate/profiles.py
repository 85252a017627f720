"""The latent archetypes of the synthetic operator and their usage profiles.

These are the generator's hidden parameters (what the models should rediscover),
not business thresholds. Monthly means; each subscriber scales them by a stable
log-normal factor and each month adds noise.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

ARCHETYPES = (
    "local_premium",
    "long_distance",
    "migrant_worker",
    "youth_data",
    "elderly_low",
    "new_joiner",
    "corporate_vpn",
    "family_member",
)

# Share of the subscribers that are neither corporate VPN members nor family
# members (those two come from the block structure of the population).
FREE_ARCHETYPE_WEIGHTS = {
    "local_premium": 0.12,
    "long_distance": 0.13,
    "migrant_worker": 0.15,
    "youth_data": 0.22,
    "elderly_low": 0.18,
    "new_joiner": 0.20,
}

P = {
    #                 premium  ld     migrant youth  elderly new    corp   family
    "revenue":       (168.0,  118.0,  46.0,   62.0,  24.0,   38.0,  96.0,  58.0),
    "plan_fee":      (128.0,  88.0,   18.0,   38.0,  8.0,    28.0,  58.0,  38.0),
    "local_min":     (820.0,  360.0,  210.0,  160.0, 140.0,  150.0, 420.0, 300.0),
    "ld_min":        (90.0,   420.0,  260.0,  20.0,  10.0,   30.0,  60.0,  25.0),
    "ld_in_min":     (40.0,   260.0,  180.0,  15.0,  15.0,   20.0,  40.0,  20.0),
    "roaming_min":   (120.0,  260.0,  30.0,   10.0,  2.0,    10.0,  50.0,  8.0),
    "intl_min":      (12.0,   6.0,    0.5,    1.0,   0.2,    0.5,   3.0,   0.3),
    "vpn_min":       (0.0,    0.0,    0.0,    0.0,   0.0,    0.0,   260.0, 0.0),
    "sms":           (60.0,   40.0,   30.0,   180.0, 8.0,    40.0,  50.0,  60.0),
    "data_mb":       (2600.0, 1800.0, 900.0,  9500.0, 60.0,  2200.0, 2400.0, 1900.0),
    "incoming_share": (0.42,  0.45,   0.50,   0.48,  0.66,   0.50,  0.45,  0.55),
    "offnet_pref":   (0.18,   0.30,   0.45,   0.36,  0.20,   0.38,  0.15,  0.16),
    "tenure_mean":   (96.0,   60.0,   18.0,   30.0,  110.0,  0.0,   72.0,  66.0),
    "p_bundle":      (0.55,   0.35,   0.08,   0.20,  0.10,   0.15,  0.45,  0.40),
    "p_prepaid":     (0.05,   0.30,   0.90,   0.75,  0.60,   0.80,  0.20,  0.40),
    "p_broadband":   (0.45,   0.25,   0.03,   0.15,  0.25,   0.08,  0.30,  0.55),
    "risk":          (-0.5,   0.0,    0.7,    0.4,   -0.3,   0.6,   -0.2,  -0.1),
    "p_4g5g":        (0.95,   0.85,   0.55,   0.98,  0.20,   0.80,  0.90,  0.80),
    "p_price_sensitive": (0.02, 0.10, 0.45,   0.30,  0.35,   0.25,  0.05,  0.15),
}

BRAND_BY_ARCHETYPE = {
    "local_premium": "gotone",
    "long_distance": "gotone",
    "migrant_worker": "shenzhouxing",
    "youth_data": "mzone",
    "elderly_low": "shenzhouxing",
    "new_joiner": "mzone",
    "corporate_vpn": "gotone",
    "family_member": "shenzhouxing",
}

AGE_BY_ARCHETYPE = {
    "local_premium": ("35-44", "45-54"),
    "long_distance": ("25-34", "35-44", "45-54"),
    "migrant_worker": ("18-24", "25-34", "35-44"),
    "youth_data": ("<18", "18-24", "25-34"),
    "elderly_low": ("55-64", "65+"),
    "new_joiner": ("18-24", "25-34", "35-44"),
    "corporate_vpn": ("25-34", "35-44", "45-54"),
    "family_member": ("<18", "35-44", "45-54", "55-64"),
}

# Value-added services: monthly fee, base monthly adoption log-odds, and the
# usage profile that raises it (feature, weight per standard deviation).
SERVICES = {
    "news": {"fee": 5.0, "base": -4.6, "drivers": {"local_min": 1.4, "age_old": 1.9}},
    "crbt": {"fee": 5.0, "base": -4.6, "drivers": {"incoming_min": 1.1, "family": 1.3}},
    "data_pack": {"fee": 20.0, "base": -4.4,
                  "drivers": {"data_mb": 1.0, "handset_4g5g": 1.6, "youth": 0.8}},
    "music": {"fee": 10.0, "base": -4.8, "drivers": {"data_mb": 0.5, "youth": 0.9}},
    "video": {"fee": 15.0, "base": -5.0, "drivers": {"data_mb": 0.8, "handset_4g5g": 0.6}},
}

# Time-varying adoption: in a month a data user (4G/5G) is capped with probability
# `rate`, their data falls to `factor` of the usual, and they take a data pack the
# next month with probability `response` (what 手机上网波动激发 targets).
DATA_DROP = {"service": "data_pack", "rate": 0.06, "factor": 0.3, "response": 0.35}


def by_archetype(archetype: Column, values: tuple[float, ...] | dict[str, str]) -> Column:
    """CASE over the archetype returning the archetype's value."""
    pairs = values.items() if isinstance(values, dict) else zip(ARCHETYPES, values, strict=True)
    expr = None
    for name, value in pairs:
        cond = archetype == F.lit(name)
        expr = F.when(cond, F.lit(value)) if expr is None else expr.when(cond, F.lit(value))
    return expr

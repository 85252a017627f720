"""Monthly landing extracts built from the latent population, one function per raw table.

Each function takes the population DataFrame (see `population.population`) and a
month index and returns exactly the contract columns of its table, as the
billing/CRM extract of that month would hold them (raw phone numbers; ingest
pseudonymises them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sparkvalue.contract.raw import INDUSTRIES, RAW_TABLES, SERVICES
from sparkvalue.generate import profiles as prof
from sparkvalue.generate.population import (
    CLUSTER_BLOCK,
    CORP_BLOCK,
    FAMILY_BLOCK,
    HUBS,
    churn_hazard_next,
    msisdn,
    service_propensity,
)
from sparkvalue.generate.rng import categorical, geometric, lognormal, pick, uniform

# The generator's campaigns: offer code (of the shipped catalog, marketing.offers), channel,
# base response, true effect of being contacted by archetype (default for the others).
CAMPAIGN_OFFERS = (
    ("2111-PREPAY200-CREDIT200", "outbound_call", 0.04, {"migrant_worker": 0.10, "youth_data": 0.08,
                                                         "new_joiner": 0.12}, 0.05),
    ("1456-NEWS-TRIAL-3M", "sms", 0.03, {"elderly_low": 0.09, "local_premium": 0.06}, 0.03),
    ("1254-DATAPACK5-HALF", "app", 0.05, {"youth_data": 0.15, "new_joiner": 0.08}, 0.04),
)


@dataclass(frozen=True)
class Plan:
    """What to generate: size, months (`yyyy-MM`, oldest first), seed and shape."""

    n: int
    months: tuple[str, ...]
    seed: int
    edges_per_subscriber: float
    partitions: int

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.months[0] + "-01")


def month_list(end_month: str, count: int) -> tuple[str, ...]:
    """`count` consecutive months ending with `end_month`."""
    year, month = map(int, end_month.split("-"))
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return tuple(reversed(out))


def _c(name: str) -> Column:
    return F.col(name)


def _month_start(plan: Plan, t: Column | int) -> Column:
    offset = t if isinstance(t, Column) else F.lit(t)
    return F.add_months(F.lit(plan.first_day), offset)


def _u(plan: Plan, stream: str, *keys) -> Column:
    return uniform(plan.seed, stream, _c("idx"), *keys)


def _state(plan: Plan, t: int) -> dict[str, Column]:
    """Month-t state of a subscriber row of the population."""
    elapsed = F.lit(t) - _c("onset_t")
    in_episode = (elapsed >= 0) & (elapsed < _c("episode_len")) & (
        _c("churn_t").isNull() | (F.lit(t) < _c("churn_t"))
    )
    noise = _u(plan, "noise_drop", t) < 0.03
    is_churn_month = _c("churn_t") == t
    drop = (
        F.when(is_churn_month, 0.35)
        .when(in_episode, 0.55 - 0.1 * elapsed)
        .when(noise, 0.7)
        .otherwise(1.0)
    )
    status = (
        F.when(is_churn_month, F.lit("cancelled"))
        .when((_c("churn_t") == t + 1) & (_u(plan, "pre_cancel", t) < 0.4), F.lit("pre_cancel"))
        .when(_c("prepaid") & ((_u(plan, "suspend", t) < 0.015)
                               | (in_episode & (_u(plan, "suspend_ep", t) < 0.1))),
              F.lit("suspended"))
        .otherwise(F.lit("active"))
    )
    return {"in_episode": in_episode, "elapsed": elapsed, "drop": drop, "status": status,
            "noise": noise}


def _active(t: int) -> Column:
    return (_c("first_t") <= t) & (_c("last_t") >= t)


def _data_drop(plan: Plan, t: int) -> Column:
    """A data user's capped month `t`: data falls to DATA_DROP["factor"] (usage extract)."""
    return _c("handset_class").isin("4g", "5g") & (_u(plan, "data_cap", t) < prof.DATA_DROP["rate"])


def _service_state(plan: Plan, service: str) -> dict[str, Column]:
    """Initial holding, adoption month and cancellation month of a service."""
    row = {name: _c(name) for name in ("archetype", "scale", "age_band", "fam_member",
                                       "handset_class")}
    p = service_propensity(row, service)
    init = _u(plan, f"svc_init:{service}") < F.least(p * 4.0, F.lit(0.5))
    adopt_t = _c("t0") + geometric(_u(plan, f"svc_adopt:{service}"), p)
    if service == prof.DATA_DROP["service"]:
        after_drop = [F.when(_data_drop(plan, t) & (_c("t0") <= t)
                             & (_u(plan, f"svc_drop:{service}", t) < prof.DATA_DROP["response"]), t + 1)
                      for t in range(len(plan.months))]
        adopt_t = F.least(adopt_t, *after_drop)
    adopt_t = F.when(~init, adopt_t)
    start = F.when(init, F.lit(-1)).otherwise(adopt_t)
    episode_cancel = F.when(_u(plan, f"svc_ep_cancel:{service}") < 0.5, _c("onset_t"))
    random_cancel = _c("t0") + geometric(_u(plan, f"svc_cancel:{service}"), 0.012)
    cancel_any = F.least(episode_cancel, random_cancel)
    cancel_t = F.when(cancel_any > start, cancel_any)
    return {"p": p, "init": init, "adopt_t": adopt_t, "cancel_t": cancel_t}


def with_service_state(pop: DataFrame, plan: Plan) -> DataFrame:
    """Add `svc_<service>_{p,init,adopt_t,cancel_t}` so extracts need not re-derive them."""
    cols = []
    for service in SERVICES:
        for name, expr in _service_state(plan, service).items():
            cols.append(expr.alias(f"svc_{service}_{name}"))
    return pop.select("*", *cols)


def _svc(service: str, name: str) -> Column:
    return _c(f"svc_{service}_{name}")


def _holds(service: str, t: int) -> Column:
    started = _svc(service, "init") | (_svc(service, "adopt_t") <= t)
    return started & (_svc(service, "cancel_t").isNull() | (_svc(service, "cancel_t") > t))


def subscribers_extract(pop: DataFrame, plan: Plan, t: int) -> DataFrame:
    st = _state(plan, t)
    act_date = F.date_add(_month_start(plan, _c("act_t")), _c("act_day") - 1)
    cols = {
        "subscriber_id": msisdn(_c("idx")),
        "month": F.lit(plan.months[t]),
        "activation_date": act_date,
        "brand": _c("brand"),
        "plan_code": F.concat(F.upper(F.substring(_c("brand"), 1, 2)), F.lit("-"),
                              _c("plan_type"), F.lit("-"), _c("plan_fee").cast("int")),
        "plan_type": _c("plan_type"),
        "plan_fee": _c("plan_fee"),
        "payment_type": _c("payment_type"),
        "status": st["status"],
        "home_city": _c("home_city"),
        "id_local": _c("id_local"),
        "age_band": _c("age_band"),
        "is_employee": _c("employee"),
        "is_special_number": _c("special"),
        "vip_level": _c("vip_level"),
        "group_id": F.when(_c("corp_member"), F.format_string("G%06d", _c("corp_block"))),
        "is_key_person": _c("is_key_person"),
        "vpn_group_id": F.when(_c("vpn_member"), F.format_string("V%06d", _c("corp_block"))),
        "family_id": F.when(_c("fam_member"), F.format_string("F%07d", _c("fam_block"))),
        "is_family_head": _c("fam_member") & (_c("idx") % FAMILY_BLOCK == 0),
        "handset_class": _c("handset_class"),
        "is_secondary_number": _c("secondary"),
        "has_call_forwarding": _c("call_forwarding"),
        "has_broadband": _c("broadband"),
        "numbers_held_12m": _c("numbers_held_12m"),
    }
    return _contract(pop.where(_active(t)).select(*[v.alias(k) for k, v in cols.items()]),
                     "subscribers")


def usage_extract(pop: DataFrame, plan: Plan, t: int) -> DataFrame:
    st = _state(plan, t)
    month_of_year = int(plan.months[t][5:7])
    season = 1.0 + 0.06 * math.sin(2 * math.pi * month_of_year / 12.0)
    festival = month_of_year == 2
    migrant = _c("archetype") == "migrant_worker"
    drop = st["drop"]

    def amount(stream: str, mean: Column, sigma: float = 0.2, exponent: float = 1.0) -> Column:
        return (mean * F.pow(_c("scale"), exponent) * season * drop
                * lognormal(plan.seed, stream, _c("idx"), t, sigma=sigma))

    def p(name: str) -> Column:
        return prof.by_archetype(_c("archetype"), prof.P[name])

    festival_ld = F.when(migrant, 1.8).otherwise(1.0) if festival else F.lit(1.0)
    vpn = amount("vpn", p("vpn_min")) * F.when(_c("vpn_member"), 1.0).otherwise(0.0)
    local = amount("local", p("local_min")) * (F.when(migrant, 0.6).otherwise(1.0)
                                               if festival else 1.0) + vpn
    ld_out = amount("ld", p("ld_min")) * festival_ld
    ld_in = amount("ld_in", p("ld_in_min")) * festival_ld
    roaming = amount("roaming", p("roaming_min")) * festival_ld
    intl = amount("intl", p("intl_min"), sigma=0.5)
    total = local + ld_out + ld_in + roaming + intl
    incoming_share = F.least(p("incoming_share") + F.when(st["in_episode"], 0.22).otherwise(0.0),
                             F.lit(0.95))
    offnet_share = F.least(_c("offnet_pref") + F.when(st["in_episode"], 0.15).otherwise(0.0),
                           F.lit(0.95))
    holds = {s: _holds(s, t) for s in SERVICES}
    fees = {s: F.when(holds[s], prof.SERVICES[s]["fee"]).otherwise(0.0) for s in SERVICES}
    data = amount("data", p("data_mb"), sigma=0.35) * F.when(holds["data_pack"], 1.6).otherwise(1.0) \
        * F.when(_data_drop(plan, t), prof.DATA_DROP["factor"]).otherwise(1.0)
    vas = fees["news"] + fees["crbt"] + fees["data_pack"] + fees["music"] + fees["video"]
    revenue = amount("revenue", p("revenue"), sigma=0.12, exponent=0.8) + vas
    ep_depth = F.when(st["in_episode"], st["elapsed"] + 1).otherwise(0)
    level = revenue * (0.3 + 1.2 * _u(plan, "balance", t)) * F.pow(F.lit(0.55), ep_depth) \
        * F.when(_c("price_sensitive"), 0.3).otherwise(1.0)
    balance = F.when(_c("prepaid"), level).otherwise(F.floor(_u(plan, "deposit", t) * 100))
    chunk = F.when(_c("price_sensitive"), pick(_u(plan, "chunk_small", t), (10, 20))) \
        .otherwise(pick(_u(plan, "chunk", t), (30, 50, 100)))
    topup_count = F.when(_c("prepaid"), F.ceil(revenue * (0.9 + 0.3 * _u(plan, "topup", t))
                                                / chunk)).otherwise(0)
    alerts = F.when(_c("prepaid") & (balance < 10),
                    1 + F.floor(_u(plan, "alerts", t)
                                * F.when(_c("price_sensitive"), 4).otherwise(2))).otherwise(0)
    bundle_active = _c("has_bundle") & (_c("bundle_start_t") <= t) & (
        _c("bundle_start_t") + _c("bundle_months") > t)
    discount = F.when(_c("plan_type") == "discount", revenue * 0.15).otherwise(0.0) \
        + F.when(bundle_active, _bundle_discount()).otherwise(0.0)
    competitor_cs = F.when(st["in_episode"] & (_u(plan, "comp_cs", t) < 0.55),
                           1 + F.floor(_u(plan, "comp_cs_n", t) * 3)) \
        .when(_u(plan, "comp_cs_noise", t) < 0.02, 1).otherwise(0)
    forwarded = F.when(st["in_episode"] & (_u(plan, "fwd", t) < 0.22),
                       3 + F.floor(_u(plan, "fwd_n", t) * 20)).otherwise(0)
    plan_change = (
        F.when((_c("onset_t") == t) & (_u(plan, "downgrade", t) < 0.35), -1)
        .when(_u(plan, "plan_up", t) < 0.01, 1)
        .when(_u(plan, "plan_down", t) < 0.01, -1)
        .otherwise(0)
    )
    incoming = total * incoming_share
    outgoing = total - incoming
    cols = {
        "subscriber_id": msisdn(_c("idx")),
        "month": F.lit(plan.months[t]),
        "revenue": revenue,
        "discount_cost": discount,
        "gift_cost": F.when(_u(plan, "gift", t) < 0.03, 10 + F.floor(_u(plan, "gift_n", t) * 40))
        .otherwise(0.0),
        "local_min": local,
        "long_distance_min": ld_out,
        "long_distance_in_min": ld_in,
        "roaming_min": roaming,
        "international_min": intl,
        "vpn_min": vpn,
        "outgoing_min": outgoing,
        "incoming_min": incoming,
        "onnet_min": total * (1 - offnet_share),
        "offnet_min": total * offnet_share,
        "outgoing_calls": F.round(outgoing / 2.4),
        "incoming_calls": F.round(incoming / 2.1),
        "local_incoming_calls": F.round(incoming / 2.1 * local / F.greatest(total, F.lit(1e-9))),
        "vpn_calls": F.round(vpn / 1.8),
        "sms_count": F.round(amount("sms", p("sms"), sigma=0.4)),
        "data_mb": data,
        "vas_news_rev": fees["news"],
        "vas_crbt_rev": fees["crbt"],
        "vas_data_pack_rev": fees["data_pack"],
        "vas_other_rev": fees["music"] + fees["video"],
        "balance": balance,
        "topup_amount": topup_count * chunk,
        "topup_count": topup_count,
        "low_balance_alerts": alerts,
        "suspended_days": F.when(st["status"] == "suspended",
                                 1 + F.floor(_u(plan, "susp_days", t) * 20)).otherwise(0),
        "cs_calls": F.floor(-F.log(F.greatest(_u(plan, "cs", t), F.lit(1e-12))) * 0.3)
        + F.when(st["in_episode"], 1).otherwise(0),
        "competitor_cs_calls": competitor_cs,
        "forwarded_to_competitor_calls": forwarded,
        "plan_change": plan_change,
    }
    return _contract(pop.where(_active(t)).select(*[v.alias(k) for k, v in cols.items()]),
                     "usage_monthly")


def _bundle_discount() -> Column:
    return (
        F.when(_c("bundle_type") == "prepaid_deposit", 20.0)
        .when(_c("bundle_type") == "minimum_spend", 35.0)
        .otherwise(55.0)
    )


# Call-circle slot kinds, laid out in this order in each subscriber's slots.
_EDGE_MINUTES = {"family": 45.0, "colleague": 22.0, "hometown": 18.0, "remote": 30.0,
                 "offnet": 12.0, "random": 6.0, "hub": 4.0}


def edges_extract(pop: DataFrame, plan: Plan, t: int) -> DataFrame:
    """Call edges of month t: a stable circle per subscriber, re-drawn activity per month.

    Own-network callees are computed arithmetically inside the caller's family,
    corporate block and hometown cluster so that no pair repeats; their
    activation and churn come from `latent` evaluated inline on the callee (no
    join). A callee who churned earlier appears as a competitor number (ported).
    """
    n = plan.n
    st = _state(plan, t)
    k_total = F.least(F.greatest(F.round(_c("degree_factor") * plan.edges_per_subscriber),
                                 F.lit(2)), F.lit(400)).cast("int")
    n_family = F.when(_c("fam_member"), _c("fam_size") - 1).otherwise(0)
    n_colleague = F.when(_c("corp_member"), F.round(k_total * 0.35)).otherwise(0).cast("int")
    n_offnet = F.round(k_total * _c("offnet_pref")).cast("int")
    n_hometown = F.round(k_total * 0.3).cast("int")
    # Only the columns the edges need cross the explode (it copies them per slot).
    callers = (
        pop.where(_active(t))
        .select("idx", "archetype", "home_city", "hometown", "scale", "fam_size",
                k_total.alias("k_total"), n_family.alias("n_family"),
                n_colleague.alias("n_colleague"), n_offnet.alias("n_offnet"),
                n_hometown.alias("n_hometown"), st["drop"].alias("drop"))
        .withColumn("slot", F.explode(F.sequence(F.lit(0), _c("k_total"))))
    )
    # Slot k_total is the hub slot; the rest are laid out family, colleague,
    # hometown, off-net, random.
    b1 = _c("n_family")
    b2 = b1 + _c("n_colleague")
    b3 = b2 + _c("n_hometown")
    b4 = b3 + _c("n_offnet")
    slot = _c("slot")
    remote_caller = _c("archetype").isin("migrant_worker", "long_distance")
    kind = (
        F.when(slot == _c("k_total"), F.lit("hub"))
        .when(slot < b1, F.lit("family"))
        .when(slot < b2, F.lit("colleague"))
        .when(slot < b3, F.when(remote_caller, F.lit("remote")).otherwise(F.lit("hometown")))
        .when(slot < b4, F.lit("offnet"))
        .otherwise(F.lit("random"))
    )
    idx = _c("idx")
    # Staged: each step refers to the previous one by column, so `kind` and the callee
    # are computed once per slot instead of once per use.
    callers = callers.select("*", kind.alias("kind"))
    kind = _c("kind")
    callers = callers.select(
        "*", (slot - F.when(kind == "colleague", b1).when(kind.isin("hometown", "remote"), b2)
              .otherwise(0)).alias("j"))
    j = _c("j")
    pos4 = idx % FAMILY_BLOCK
    pos256 = idx % CORP_BLOCK
    blk = F.floor((idx % CLUSTER_BLOCK) / CORP_BLOCK)
    cluster_base = idx - idx % CLUSTER_BLOCK
    hub_step = max(n // HUBS, 1)
    hub = F.floor(_u(plan, "hub") * HUBS).cast("long") * hub_step
    # Random contacts lie outside the caller's cluster; successive slots step through
    # the remaining indices with a stride coprime to their count, so none repeats.
    span = max(n - CLUSTER_BLOCK, 1)
    stride = next(p for p in (7919, 104_729, 1_299_709, 15_485_863) if math.gcd(p, span) == 1)
    start = F.floor(_u(plan, "random_start") * span).cast("long")
    rnd = (cluster_base + CLUSTER_BLOCK + (start + slot * stride) % span) % n
    callee_idx = (
        F.when(kind == "family", idx - pos4 + (pos4 + 1 + slot) % _c("fam_size"))
        .when(kind == "colleague", idx - pos256 + (pos256 + 1 + j * 37) % CORP_BLOCK)
        .when(kind == "hometown", cluster_base + ((blk + 1 + j % 3) % 4) * CORP_BLOCK
              + (pos256 + 1 + F.floor(j / 3) * 37) % CORP_BLOCK)
        .when(kind == "random", rnd)
        .when(kind == "hub", hub)
    ).cast("long")
    callers = callers.select("*", callee_idx.alias("callee_idx"), hub.alias("hub"))
    callee_idx = _c("callee_idx")
    own_kind = kind.isin("family", "colleague", "hometown", "random", "hub")
    hub_in_cluster = (_c("hub") >= cluster_base) & (_c("hub") < cluster_base + CLUSTER_BLOCK)
    keep_slot = (
        F.when(kind == "hub", (_u(plan, "hub_active", t) < 0.35) & ~hub_in_cluster)
        .otherwise(uniform(plan.seed, "slot_active", idx, slot, t) < 0.88)
        & (~own_kind | ((callee_idx < n) & (callee_idx != idx)))
        & ((kind != "random") | (callee_idx % hub_step != 0))
    )
    edges = callers.where(keep_slot).select(
        "idx", "archetype", "home_city", "hometown", "scale", "drop", "slot", "kind",
        F.when(own_kind, callee_idx).alias("callee_idx"),
    )
    # Other operators' numbers: a per-caller start plus a slot stride, so that one
    # caller's slots never share a number; the prefix tells the number space apart.
    digits = F.lpad(((F.floor(uniform(plan.seed, "offnet_number", idx) * 1e8).cast("long")
                      + slot * 9973) % 100_000_000).cast("string"), 8, "0")
    offnet_number = F.concat(F.lit("1"), pick(uniform(plan.seed, "offnet_prefix", idx),
                                              ("53", "80", "81", "89", "55", "56")), digits)
    fixed_number = F.concat(F.lit("0577"), digits)
    remote_number = F.concat(F.lit("147"), digits)
    is_fixed = uniform(plan.seed, "fixed", idx, slot) < 0.2
    remote_own = uniform(plan.seed, "remote_own", idx, slot) < 0.7
    remote_region = F.when(
        _c("archetype") == "migrant_worker", _c("hometown")
    ).otherwise(categorical(uniform(plan.seed, "ld_region", idx, slot),
                            ["chengdu", "chongqing", "guiyang", "nanchang", "hefei", "changsha",
                             "other"], [1.0] * 7))
    # The callee's activation, churn and city come from the population itself.
    callees = pop.select(_c("idx").alias("callee_idx"), _c("act_t").alias("callee_act_t"),
                         _c("churn_t").alias("callee_churn_t"),
                         _c("home_city").alias("callee_city"))
    # Broadcast: the slim lookup (index, two month numbers, a city) is far smaller than
    # the month's edges, which then need no shuffle. It grows with the population
    # (about 30 MB per million subscribers), which the generator accepts.
    edges = (
        edges.join(F.broadcast(callees), on="callee_idx", how="left")
        .where(_c("callee_idx").isNull() | (_c("callee_act_t") <= t))
    )
    ported = _c("callee_churn_t") < t
    callee_id = (
        F.when(_c("callee_idx").isNotNull(), msisdn(_c("callee_idx")))
        .when(_c("kind") == "remote", F.when(remote_own, remote_number).otherwise(offnet_number))
        .when(is_fixed, fixed_number)
        .otherwise(offnet_number)
    )
    operator = (
        F.when(_c("callee_idx").isNotNull(),
               F.when(ported, F.lit("competitor")).otherwise(F.lit("own")))
        .when(_c("kind") == "remote",
              F.when(remote_own, F.lit("own_other_region")).otherwise(F.lit("competitor")))
        .when(is_fixed, F.lit("fixed"))
        .otherwise(F.lit("competitor"))
    )
    region = (
        F.when(_c("kind") == "remote", remote_region)
        .when(_c("callee_idx").isNotNull(), _c("callee_city"))
        .otherwise(_c("home_city"))
    )
    mean_minutes = None
    for name, value in _EDGE_MINUTES.items():
        mean_minutes = (F.when(_c("kind") == name, value) if mean_minutes is None
                        else mean_minutes.when(_c("kind") == name, value))
    minutes = F.round(mean_minutes * F.sqrt(_c("scale")) * _c("drop")
                      * lognormal(plan.seed, "edge_minutes", idx, _c("slot"), t, sigma=0.6), 1)
    sms_rate = F.when(_c("archetype") == "youth_data", 4.0).otherwise(0.8)
    cols = {
        "caller_id": msisdn(idx),
        "callee_id": callee_id,
        "month": F.lit(plan.months[t]),
        "calls": F.greatest(F.round(minutes / 2.5), F.lit(1)).cast("int"),
        "minutes": minutes,
        "sms": F.floor(-F.log(F.greatest(uniform(plan.seed, "edge_sms", idx, _c("slot"), t),
                                         F.lit(1e-12))) * sms_rate).cast("int"),
        "callee_operator": operator,
        "callee_region": region,
    }
    return _contract(edges.select(*[v.alias(k) for k, v in cols.items()]), "call_edges")


def product_events_extract(pop: DataFrame, plan: Plan, t: int) -> DataFrame:
    parts = []
    for service in SERVICES:
        s = {name: _svc(service, name) for name in ("p", "init", "adopt_t", "cancel_t")}
        day = (F.floor(_u(plan, f"svc_day:{service}", t) * 28)).cast("int")
        date_col = F.date_add(_month_start(plan, t), day)
        sub_channel = pick(_u(plan, f"svc_ch:{service}", t), ("sms", "app", "silent", "store"))
        unsub_channel = pick(_u(plan, f"svc_unch:{service}", t), ("sms", "app", "store", "web"))
        base = pop.where(_active(t))
        for action, cond, channel in (
            ("subscribe", ~s["init"] & (s["adopt_t"] == t), sub_channel),
            ("unsubscribe", s["cancel_t"] == t, unsub_channel),
        ):
            parts.append(base.where(cond).select(
                msisdn(_c("idx")).alias("subscriber_id"),
                F.lit(service).alias("service"),
                F.lit(action).alias("action"),
                date_col.alias("event_date"),
                channel.alias("channel"),
            ))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return _contract(out, "product_events")


def bundles_extract(pop: DataFrame, plan: Plan, t: int) -> DataFrame:
    """Bundles starting in month t (those begun before the first month come with month 0)."""
    extract_t = F.greatest(_c("bundle_start_t"), F.lit(0))
    start = F.date_add(_month_start(plan, _c("bundle_start_t")),
                       F.floor(_u(plan, "bundle_day") * 28).cast("int"))
    rows = pop.where(_c("has_bundle") & (extract_t == t) & _active(t))
    return _contract(rows.select(
        F.substring(F.sha2(F.concat_ws(":", F.lit(plan.seed), F.lit("bundle"),
                                       _c("idx").cast("string")), 256), 1, 16)
        .alias("bundle_id"),
        msisdn(_c("idx")).alias("subscriber_id"),
        F.lit(plan.months[t]).alias("extract_month"),
        _c("bundle_type").alias("bundle_type"),
        start.alias("start_date"),
        F.date_sub(F.add_months(start, _c("bundle_months")), 1).alias("end_date"),
        _bundle_discount().alias("monthly_discount"),
    ), "bundles")


def groups_extract(spark: SparkSession, plan: Plan, t: int) -> DataFrame:
    """One row per corporate group (a corporate block with members) in month t."""
    blocks = spark.range(0, (plan.n + CORP_BLOCK - 1) // CORP_BLOCK, 1, 1)
    block = _c("id")
    on = uniform(plan.seed, "corp_block", block) < 0.22
    return_rate = -0.2 + 1.2 * uniform(plan.seed, "group_return", block)
    revenue = F.round(3000.0 * lognormal(plan.seed, "group_rev", block, sigma=0.8)
                      * lognormal(plan.seed, "group_rev_m", block, t, sigma=0.1), 2)
    return _contract(blocks.where(on).select(
        F.format_string("G%06d", block).alias("group_id"),
        F.lit(plan.months[t]).alias("month"),
        categorical(uniform(plan.seed, "industry", block), INDUSTRIES,
                    [1.0] * len(INDUSTRIES)).alias("industry"),
        revenue.alias("group_revenue"),
        F.round(revenue * (1 - return_rate), 2).alias("group_cost"),
        F.format_string("AM%03d", block % 50).alias("account_manager"),
    ), "groups")


def contact_history_extract(pop: DataFrame, plan: Plan, t: int) -> DataFrame:
    """Each month every campaign selects ~3% of active subscribers; 10% are held out."""
    parts = []
    for c, (offer, channel, base, effects, default_effect) in enumerate(CAMPAIGN_OFFERS):
        selected = _u(plan, f"campaign:{c}", t) < 0.03
        control = _u(plan, f"control:{c}", t) < 0.10
        effect = prof.by_archetype(_c("archetype"), tuple(
            effects.get(a, default_effect) for a in prof.ARCHETYPES))
        p_response = F.lit(base) + F.when(control, 0.0).otherwise(effect)
        responded = _u(plan, f"response:{c}", t) < p_response
        contact_day = F.floor(_u(plan, f"contact_day:{c}", t) * 20).cast("int")
        contact_date = F.date_add(_month_start(plan, t), contact_day)
        parts.append(pop.where(_active(t) & selected & (_c("churn_t").isNull()
                                                         | (_c("churn_t") > t))).select(
            F.substring(F.sha2(F.concat_ws(":", F.lit(plan.seed), F.lit(t), F.lit(c),
                                           _c("idx").cast("string")), 256), 1, 16)
            .alias("contact_id"),
            F.lit(f"CMP-{plan.months[t]}-{c + 1}").alias("campaign_id"),
            F.lit(offer).alias("offer_code"),
            msisdn(_c("idx")).alias("subscriber_id"),
            contact_date.alias("contact_date"),
            F.lit(channel).alias("channel"),
            F.when(control, F.lit("control")).otherwise(F.lit("treatment")).alias("arm"),
            F.when(responded, F.date_add(contact_date,
                                         1 + F.floor(_u(plan, f"resp_day:{c}", t) * 25)
                                         .cast("int"))).alias("response_date"),
        ))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return _contract(out, "contact_history")


def _contract(df: DataFrame, table: str) -> DataFrame:
    """Cast to the contract's column order and types (the extract's output contract)."""
    spec = RAW_TABLES[table]
    rounded = []
    for f in spec.fields:
        col = F.col(f.name)
        if f.dtype == "double":
            col = F.round(col, 2)
        rounded.append(col.cast(f.spark_type).alias(f.name))
    return df.select(*rounded)


EXTRACTS = {
    "subscribers": subscribers_extract,
    "usage_monthly": usage_extract,
    "call_edges": edges_extract,
    "product_events": product_events_extract,
    "bundles": bundles_extract,
    "contact_history": contact_history_extract,
}


# ---------------------------------------------------------------- hidden truth

def truth_subscribers(pop: DataFrame, plan: Plan) -> DataFrame:
    """One row per subscriber: archetype, churn month and cause, latent hazards."""
    months = F.array(*[F.lit(m) for m in plan.months])
    return pop.select(
        msisdn(_c("idx")).alias("subscriber_id"),
        "archetype",
        F.col("cluster").alias("hometown_cluster"),
        F.when(_c("churn_t").isNotNull(), F.element_at(months, _c("churn_t") + 1))
        .alias("churn_month"),
        "churn_cause",
        F.when((_c("onset_t") >= 0) & (_c("onset_t") < len(plan.months)),
               F.element_at(months, _c("onset_t") + 1)).alias("episode_month"),
        "episode_len",
        F.col("episode_hazard").alias("monthly_episode_hazard"),
        "has_bundle",
    )


def truth_subscriber_month(pop: DataFrame, plan: Plan, t: int) -> DataFrame:
    """One row per active subscriber in month t: the true churn probability of t+1."""
    row = {name: _c(name) for name in ("t0", "background_hazard", "onset_t", "shock_t",
                                       "follow_p")}
    st = _state(plan, t)
    return pop.where(_active(t) & (_c("churn_t").isNull() | (_c("churn_t") > t))).select(
        msisdn(_c("idx")).alias("subscriber_id"),
        F.lit(plan.months[t]).alias("month"),
        churn_hazard_next(F.lit(t), row).alias("churn_prob_next_month"),
        st["in_episode"].alias("in_episode"),
    )


def truth_propensity(pop: DataFrame, plan: Plan) -> DataFrame:
    """One row per subscriber and service: the true monthly adoption probability, and the
    months after which it rises to 1 - (1 - p)(1 - drop_response) (a sharp data drop)."""
    parts = []
    for service in SERVICES:
        s = {name: _svc(service, name) for name in ("p", "init")}
        drops = F.array().cast("array<string>")
        response = 0.0
        if service == prof.DATA_DROP["service"]:
            drops = F.filter(F.array(*[F.when(_data_drop(plan, t), F.lit(m))
                                       for t, m in enumerate(plan.months)]), lambda m: m.isNotNull())
            response = prof.DATA_DROP["response"]
        parts.append(pop.select(
            msisdn(_c("idx")).alias("subscriber_id"),
            F.lit(service).alias("service"),
            s["p"].alias("monthly_propensity"),
            s["init"].alias("held_before_window"),
            drops.alias("drop_months"),
            F.lit(response).alias("drop_response"),
        ))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def truth_campaign_effects(spark: SparkSession) -> DataFrame:
    """One row per offer and archetype: base response and the true effect of contact."""
    rows = [
        (offer, archetype, base, float(effects.get(archetype, default)))
        for offer, _channel, base, effects, default in CAMPAIGN_OFFERS
        for archetype in prof.ARCHETYPES
    ]
    return spark.createDataFrame(
        rows, "offer_code string, archetype string, base_response double, true_effect double")

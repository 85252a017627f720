"""The raw data contract: one declaration per landing table (MISSION.md "Inputs").

Everything else derives from these declarations: the Spark schemas, ingest's
validation rules, the generator's output columns and `docs/data-contract.md`.
Money is in yuan, durations in minutes, data volume in MB.
"""

from __future__ import annotations

from sparkvalue.contract.fields import Field, RawTable, Reference

BRANDS = ("gotone", "mzone", "shenzhouxing")  # 全球通, 动感地带, 神州行
PLAN_TYPES = ("standard", "discount", "data_only", "family", "corporate")
PAYMENT_TYPES = ("prepaid", "postpaid", "group_paid", "free")
STATUSES = ("active", "suspended", "pre_cancel", "cancelled")
AGE_BANDS = ("<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
HANDSET_CLASSES = ("feature", "smart_3g", "4g", "5g")
CITIES = ("wenzhou", "quanzhou", "hangzhou", "fuzhou", "xiamen", "ningbo")
REGIONS = CITIES + ("chengdu", "chongqing", "guiyang", "nanchang", "hefei", "changsha", "other")
OPERATORS = ("own", "own_other_region", "competitor", "fixed")  # own: a subscriber of ours
SERVICES = ("news", "crbt", "data_pack", "music", "video")
EVENT_ACTIONS = ("subscribe", "unsubscribe")
EVENT_CHANNELS = ("sms", "app", "store", "outbound_call", "web", "silent")
BUNDLE_TYPES = ("prepaid_deposit", "minimum_spend", "handset_contract")
INDUSTRIES = ("manufacturing", "trade", "government", "education", "finance", "logistics", "it")
CONTACT_CHANNELS = ("outbound_call", "sms", "store", "app")
ARMS = ("treatment", "control")

_MONTH = Field("month", "string", "extract month", "yyyy-MM")
_SUBSCRIBER = Field("subscriber_id", "string", "subscriber's phone number", pii=True)
_MONEY = 1_000_000.0  # upper bound of any single monetary field (yuan), a sanity range
_MINUTES = 44_640.0  # minutes in 31 days


def _money(name: str, description: str, maximum: float = 100_000.0, minimum: float = 0.0) -> Field:
    return Field(name, "double", description, "yuan", minimum=minimum, maximum=maximum)


def _minutes(name: str, description: str) -> Field:
    return Field(name, "double", description, "minutes", minimum=0, maximum=_MINUTES)


def _count(name: str, description: str, maximum: float = 100_000, unit: str = "count") -> Field:
    return Field(name, "int", description, unit, minimum=0, maximum=maximum)


def _flag(name: str, description: str) -> Field:
    return Field(name, "boolean", description, allowed=("true", "false"))


SUBSCRIBERS = RawTable(
    name="subscribers",
    grain="one row per subscriber per month",
    description="CRM snapshot of every subscriber at the end of the month.",
    key=("subscriber_id", "month"),
    month_from="month",
    references=(Reference("group_id", "groups", "group_id"),),
    fields=(
        _SUBSCRIBER,
        _MONTH,
        Field("activation_date", "date", "date the number was activated"),
        Field("brand", "string", "brand", allowed=BRANDS),
        Field("plan_code", "string", "tariff plan code"),
        Field("plan_type", "string", "kind of tariff plan", allowed=PLAN_TYPES),
        _money("plan_fee", "monthly fee of the plan", maximum=2_000),
        Field("payment_type", "string", "how the account is paid", allowed=PAYMENT_TYPES),
        Field("status", "string", "account status at month end", allowed=STATUSES),
        Field("home_city", "string", "city of the account", allowed=CITIES),
        _flag("id_local", "ID document issued in the home province (migrant workers: false)"),
        Field("age_band", "string", "age band of the holder", "years", allowed=AGE_BANDS),
        _flag("is_employee", "number of an operator employee"),
        _flag("is_special_number", "premium ('lucky') number"),
        Field("vip_level", "int", "VIP level, 0 = none", minimum=0, maximum=5),
        Field("group_id", "string", "corporate group the subscriber belongs to", required=False),
        _flag("is_key_person", "decision maker or contact person of the corporate group"),
        Field("vpn_group_id", "string", "VPN (closed user group) id", required=False),
        Field("family_id", "string", "family plan id", required=False),
        _flag("is_family_head", "pays for the family plan"),
        Field("handset_class", "string", "handset capability", allowed=HANDSET_CLASSES),
        _flag("is_secondary_number", "second number of a holder with a main number"),
        _flag("has_call_forwarding", "unconditional call forwarding is set"),
        _flag("has_broadband", "home broadband with us"),
        _count("numbers_held_12m", "other numbers the same ID held in the last 12 months",
               maximum=50),
    ),
    checks=(
        ("key_person_needs_group", "NOT is_key_person OR group_id IS NOT NULL"),
        ("family_head_needs_family", "NOT is_family_head OR family_id IS NOT NULL"),
        ("activation_after_month_end", "activation_date <= last_day(to_date(month || '-01'))"),
    ),
)

USAGE_MONTHLY = RawTable(
    name="usage_monthly",
    grain="one row per subscriber per month",
    description="Billing and switch totals of the month.",
    key=("subscriber_id", "month"),
    month_from="month",
    references=(Reference("subscriber_id", "subscribers", "subscriber_id"),),
    fields=(
        _SUBSCRIBER,
        _MONTH,
        _money("revenue", "billed revenue (ARPU)", maximum=_MONEY),
        _money("discount_cost", "cost of discounts granted"),
        _money("gift_cost", "cost of gifts and subsidies"),
        _minutes("local_min", "local voice minutes"),
        _minutes("long_distance_min", "domestic long-distance minutes (outgoing)"),
        _minutes("long_distance_in_min", "incoming long-distance minutes"),
        _minutes("roaming_min", "minutes while roaming"),
        _minutes("international_min", "international minutes"),
        _minutes("vpn_min", "minutes inside the VPN group"),
        _minutes("outgoing_min", "outgoing minutes"),
        _minutes("incoming_min", "incoming minutes"),
        _minutes("onnet_min", "minutes with our own subscribers"),
        _minutes("offnet_min", "minutes with other operators' numbers"),
        _count("outgoing_calls", "outgoing calls"),
        _count("incoming_calls", "incoming calls"),
        _count("local_incoming_calls", "incoming local calls"),
        _count("vpn_calls", "calls inside the VPN group"),
        _count("sms_count", "SMS sent"),
        Field("data_mb", "double", "mobile data volume", "MB", minimum=0, maximum=10_000_000),
        _money("vas_news_rev", "revenue of the news service (手机报)"),
        _money("vas_crbt_rev", "revenue of ring-back tones (彩铃)"),
        _money("vas_data_pack_rev", "revenue of mobile data packs"),
        _money("vas_other_rev", "revenue of other value-added services"),
        _money("balance", "account balance at month end (negative: owed)", minimum=-_MONEY,
               maximum=_MONEY),
        _money("topup_amount", "amount topped up in the month", maximum=_MONEY),
        _count("topup_count", "number of top-ups"),
        _count("low_balance_alerts", "low-balance alerts sent"),
        _count("suspended_days", "days the line was suspended", maximum=31, unit="days"),
        _count("cs_calls", "calls to our customer service"),
        _count("competitor_cs_calls", "calls received from competitors' customer-service numbers"),
        _count("forwarded_to_competitor_calls", "calls forwarded to a competitor's number"),
        Field("plan_change", "int", "plan change in the month: -1 down, 0 none, 1 up",
              minimum=-1, maximum=1),
    ),
    checks=(
        ("minutes_split_consistent",
         "abs(outgoing_min + incoming_min - onnet_min - offnet_min) "
         "<= 1 + 0.01 * (outgoing_min + incoming_min)"),
    ),
)

CALL_EDGES = RawTable(
    name="call_edges",
    grain="one row per caller-callee pair per month",
    description="The call circle: who a subscriber called or texted in the month.",
    key=("caller_id", "callee_id", "month"),
    month_from="month",
    references=(
        Reference("caller_id", "subscribers", "subscriber_id"),
        Reference("callee_id", "subscribers", "subscriber_id", when="callee_operator = 'own'"),
    ),
    fields=(
        Field("caller_id", "string", "calling subscriber's number", pii=True),
        Field("callee_id", "string", "called number (ours or another operator's)", pii=True),
        _MONTH,
        _count("calls", "calls from caller to callee"),
        _minutes("minutes", "minutes from caller to callee"),
        _count("sms", "SMS from caller to callee"),
        Field("callee_operator", "string", "operator of the called number", allowed=OPERATORS),
        Field("callee_region", "string", "region of the called number", allowed=REGIONS),
    ),
    checks=(
        ("no_self_edge", "caller_id <> callee_id"),
        ("edge_has_traffic", "calls + sms > 0"),
    ),
)

PRODUCT_EVENTS = RawTable(
    name="product_events",
    grain="one row per value-added-service event",
    description="Subscriptions to and cancellations of value-added services.",
    key=("subscriber_id", "service", "event_date", "action"),
    month_from="event_date",
    references=(Reference("subscriber_id", "subscribers", "subscriber_id"),),
    fields=(
        _SUBSCRIBER,
        Field("service", "string", "value-added service", allowed=SERVICES),
        Field("action", "string", "what happened", allowed=EVENT_ACTIONS),
        Field("event_date", "date", "date of the event"),
        Field("channel", "string", "channel of the event", allowed=EVENT_CHANNELS),
    ),
)

BUNDLES = RawTable(
    name="bundles",
    grain="one row per bundle (commitment); extract of the month it starts",
    description="Commitments: prepaid deposit, minimum spend, handset contract. Bundles that "
    "began before the first extract arrive in the first month's file.",
    key=("bundle_id",),
    month_from="extract_month",
    references=(Reference("subscriber_id", "subscribers", "subscriber_id"),),
    fields=(
        Field("bundle_id", "string", "bundle id"),
        _SUBSCRIBER,
        Field("extract_month", "string", "extract month", "yyyy-MM"),
        Field("bundle_type", "string", "kind of commitment", allowed=BUNDLE_TYPES),
        Field("start_date", "date", "first day of the commitment"),
        Field("end_date", "date", "last day of the commitment"),
        _money("monthly_discount", "discount granted per month", maximum=5_000),
    ),
    checks=(("end_after_start", "end_date >= start_date"),),
)

GROUPS = RawTable(
    name="groups",
    grain="one row per corporate group per month",
    description="Corporate customers (集团) and what they bring and cost.",
    key=("group_id", "month"),
    month_from="month",
    fields=(
        Field("group_id", "string", "corporate group id"),
        _MONTH,
        Field("industry", "string", "industry", allowed=INDUSTRIES),
        _money("group_revenue", "revenue of the group account in the month", maximum=1e9),
        _money("group_cost", "cost of serving the group (discounts, terminals, staff)",
               maximum=1e9),
        Field("account_manager", "string", "account manager id"),
    ),
)

CONTACT_HISTORY = RawTable(
    name="contact_history",
    grain="one row per contact (campaign x subscriber)",
    description="Who was offered what, through which channel, treatment or control, and "
    "whether they responded (the closed loop).",
    key=("contact_id",),
    month_from="contact_date",
    references=(Reference("subscriber_id", "subscribers", "subscriber_id"),),
    fields=(
        Field("contact_id", "string", "contact id"),
        Field("campaign_id", "string", "campaign id"),
        Field("offer_code", "string", "offer of the catalogue"),
        _SUBSCRIBER,
        Field("contact_date", "date", "date of the contact (or of selection, for control)"),
        Field("channel", "string", "channel", allowed=CONTACT_CHANNELS),
        Field("arm", "string", "treatment (contacted) or control (held out)", allowed=ARMS),
        Field("response_date", "date", "date the offer was taken, empty if not",
              required=False),
    ),
    checks=(("response_after_contact", "response_date IS NULL OR response_date >= contact_date"),),
)

RAW_TABLES: dict[str, RawTable] = {
    t.name: t
    for t in (
        GROUPS,
        SUBSCRIBERS,
        USAGE_MONTHLY,
        CALL_EDGES,
        PRODUCT_EVENTS,
        BUNDLES,
        CONTACT_HISTORY,
    )
}
"""In ingest order: referenced tables (groups, subscribers) before the ones that refer."""

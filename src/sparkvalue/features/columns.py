"""Output contracts of the silver feature tables: column, type, meaning (in order).

The transforms end with a `select` of exactly these columns; `docs/tables.md` is
rendered from them.
"""

from __future__ import annotations

from sparkvalue.contract.raw import SUBSCRIBERS, USAGE_MONTHLY

_KEY = [("subscriber_id", "string", "pseudonymised subscriber number"),
        ("month", "string", "month of the features (yyyy-MM), the partition")]

_ATTRIBUTES = [(f.name, f.dtype, f.description) for f in SUBSCRIBERS.fields
               if f.name not in ("subscriber_id", "month")]
_USAGE = [(f.name, f.dtype, f.description + " (this month)") for f in USAGE_MONTHLY.fields
          if f.name not in ("subscriber_id", "month")]

SUBSCRIBER_FEATURES: list[tuple[str, str, str]] = [
    *_KEY,
    *_ATTRIBUTES,
    ("tenure_months", "int", "whole months from activation to the end of the month"),
    ("family_size", "long", "subscribers of the same family plan this month (0: none)"),
    ("vpn_size", "long", "subscribers of the same VPN group this month (0: none)"),
    ("data_capable", "boolean", "handset can use mobile data"),
    ("in_family", "boolean", "member of a family plan"),
    ("in_vpn", "boolean", "member of a VPN group"),
    *_USAGE,
    ("mou", "double", "minutes of use: outgoing + incoming"),
    ("cost", "double", "discounts + gifts of the month (yuan)"),
    ("vas_revenue", "double", "revenue of value-added services"),
    ("services_held", "int", "value-added services billed this month"),
    ("return_rate", "double", "(revenue - cost) / revenue"),
    ("months_of_history", "long", "months with usage in the last 13 (this one included)"),
    ("revenue_3m_avg", "double", "average revenue of this and the 2 months before"),
    ("revenue_6m_avg", "double", "average revenue over 6 months (this one included)"),
    ("revenue_12m_avg", "double", "average revenue over 12 months (this one included)"),
    ("revenue_6m_avg_lag1", "double", "6-month average revenue as of last month"),
    ("revenue_lag1", "double", "revenue last month"),
    ("revenue_ly", "double", "revenue in the same month last year"),
    ("revenue_yoy", "double", "revenue / revenue in the same month last year"),
    ("revenue_prev3_avg", "double", "average revenue of the 3 months before"),
    ("revenue_vs_prev3", "double", "revenue / average of the 3 months before (trend)"),
    ("revenue_band_min", "double", "lowest revenue of the 3 months before"),
    ("revenue_band_max", "double", "highest revenue of the 3 months before"),
    ("revenue_band_position", "double", "where revenue sits in that band: <0 below, 0-1 in, >1 above"),
    ("mou_3m_avg", "double", "average MOU of this and the 2 months before"),
    ("mou_6m_avg", "double", "average MOU over 6 months"),
    ("mou_lag1", "double", "MOU last month"),
    ("mou_ly", "double", "MOU in the same month last year"),
    ("mou_ly_lag1", "double", "MOU in the month before that, last year"),
    ("mou_yoy", "double", "MOU / MOU in the same month last year"),
    ("mou_2m_yoy", "double", "MOU of this and last month / the same two months last year"),
    ("mou_prev3_avg", "double", "average MOU of the 3 months before"),
    ("mou_vs_prev3", "double", "MOU / average of the 3 months before"),
    ("mou_band_min", "double", "lowest MOU of the 3 months before"),
    ("mou_band_max", "double", "highest MOU of the 3 months before"),
    ("mou_band_position", "double", "where MOU sits in that band"),
    ("data_mb_3m_avg", "double", "average data volume of this and the 2 months before"),
    ("data_mb_6m_avg", "double", "average data volume over 6 months"),
    ("data_mb_ly", "double", "data volume in the same month last year"),
    ("data_mb_yoy", "double", "data volume / same month last year"),
    ("data_mb_prev3_avg", "double", "average data volume of the 3 months before"),
    ("data_mb_vs_prev3", "double", "data volume / average of the 3 months before"),
    ("data_mb_band_min", "double", "lowest data volume of the 3 months before"),
    ("data_mb_band_max", "double", "highest data volume of the 3 months before"),
    ("data_mb_band_position", "double", "where data volume sits in that band"),
    ("outgoing_share", "double", "outgoing / all minutes"),
    ("incoming_share", "double", "incoming / all minutes"),
    ("incoming_share_lag1", "double", "incoming share last month"),
    ("offnet_minutes_share", "double", "off-net / (on-net + off-net) minutes"),
    ("offnet_minutes_share_lag1", "double", "off-net minutes share last month"),
    ("vpn_minutes_share", "double", "VPN minutes / all minutes"),
    ("vpn_calls_share", "double", "VPN calls / all calls"),
    ("roaming_share", "double", "roaming minutes / all minutes"),
    ("long_distance_share", "double", "long-distance minutes (both ways) / all minutes"),
    ("international_share", "double", "international minutes / all minutes"),
    ("balance_lag1", "double", "balance at the end of last month"),
    ("balance_lag2", "double", "balance at the end of the month before last"),
    ("balance_change", "double", "balance - balance last month"),
    ("balance_falling_2m", "boolean", "balance fell in each of the last two months"),
    ("topup_amount_3m", "double", "top-ups of the last 3 months (yuan)"),
    ("topup_count_3m", "long", "number of top-ups in the last 3 months"),
    ("avg_topup_3m", "double", "average top-up of the last 3 months (yuan)"),
    ("low_balance_alerts_3m_avg", "double", "low-balance alerts per month, last 3 months"),
    ("competitor_cs_calls_3m", "long", "calls from competitors' customer service, last 3 months"),
    ("downgrades_3m", "long", "plan downgrades in the last 3 months"),
    ("upgrades_3m", "long", "plan upgrades in the last 3 months"),
    ("services_held_lag1", "int", "value-added services billed last month"),
    ("news_months_prev3", "long", "months of the 3 before this one with the news service billed"),
    ("crbt_months_prev3", "long", "months of the 3 before this one with ring-back tones billed"),
    ("data_pack_months_prev3", "long", "months of the 3 before this one with a data pack billed"),
    ("services_dropped_1m", "int", "services billed last month but not this month"),
    ("suspended_days_3m", "long", "days suspended in the last 3 months"),
    ("bundles_active", "long", "bundles (commitments) running this month"),
    ("bundle_months_to_end", "double", "months from this month's end to the nearest bundle end"),
    ("bundle_discount", "double", "monthly discount of the running bundles (yuan)"),
    ("has_handset_contract", "boolean", "a handset contract is running"),
    ("services_subscribed_1m", "long", "value-added services subscribed this month"),
    ("services_cancelled_1m", "long", "value-added services cancelled this month"),
    ("silent_activations_1m", "long", "services activated silently this month"),
]

GRAPH_FEATURES: list[tuple[str, str, str]] = [
    *_KEY,
    ("circle_breadth", "long", "distinct numbers called or texted this month (hubs left out)"),
    ("circle_depth", "double", "minutes with them"),
    ("circle_calls", "long", "calls to them"),
    ("circle_sms", "long", "SMS to them"),
    ("circle_onnet_share", "double", "share of the circle on our network (any region)"),
    ("circle_competitor_share", "double", "share of the circle on competitors' networks"),
    ("circle_fixed_share", "double", "share of the circle on fixed lines"),
    ("circle_competitor_minutes_share", "double", "share of the circle's minutes with competitors"),
    ("circle_groups", "long", "distinct corporate groups among the contacts"),
    ("circle_key_persons", "long", "key persons of corporate groups among the contacts"),
    ("vpn_breadth_share", "double", "share of the circle inside the subscriber's own VPN group"),
    ("in_degree", "long", "distinct callers of this number this month"),
    ("is_hub", "boolean", "called by at least graph.hub_min_in_degree subscribers (call-centre like)"),
    ("pagerank", "double", "PageRank on the month's subscriber call graph (sums to 1 per month; "
                           "null for hubs)"),
    ("community", "string", "strong-tie community: the smallest pseudonym of its members"),
    ("community_size", "long", "members of the community"),
    ("community_role", "string", "leader (highest PageRank of a community of 2+), follower, single"),
    ("depth_vs_community", "double", "circle depth / community average - 1"),
    ("revenue_vs_community", "double", "revenue / community average - 1"),
    ("circle_churned", "long", "contacts who cancelled last month"),
    ("circle_churned_share", "double", "share of the circle that cancelled last month"),
    ("circle_churned_leaders", "long", "of those, community leaders"),
    ("ld_top_region", "string", "region receiving most long-distance minutes"),
    ("ld_top_region_share", "double", "its share of the long-distance minutes (concentration)"),
    ("ld_regions", "long", "regions called long distance"),
    ("ld_minutes", "double", "long-distance minutes in the circle"),
]


def names(columns: list[tuple[str, str, str]]) -> list[str]:
    return [c for c, _, _ in columns]

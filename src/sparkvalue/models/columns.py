"""Output contracts of the gold model tables: column, type, meaning (in order).

The scoring stage ends each table with a `select` of exactly these columns;
`docs/tables.md` is rendered from them.
"""

from __future__ import annotations

_KEY = [("subscriber_id", "string", "pseudonymised subscriber number"),
        ("month", "string", "month scored (yyyy-MM), the partition")]
_STAMP = [("model_name", "string", "registered model in MLflow"),
          ("model_version", "int", "registered version that scored the row (the champion then)"),
          ("scored_at", "timestamp", "when the scoring run started (UTC)")]

VALUE = [
    *_KEY,
    ("value_score", "double", "AHP value index, 0-100 (weighted indicators + key-person bonus)"),
    ("value_current", "double", "points from current contribution (revenue, return rate)"),
    ("value_historical", "double", "points from historical contribution (3-month revenue, tenure)"),
    ("value_influence", "double", "points from the call circle's social, business and group influence"),
    ("key_person_bonus", "double", "points added for corporate key persons (value.key_person_bonus)"),
    ("value_rank", "long", "rank in the month, 1 = most valuable (ties: by subscriber id)"),
    ("value_tier", "string", "high (top 10%), mid_high (next 20%), mid (60%), low (bottom 10%)"),
    ("revenue_3m_avg", "double", "average revenue of the last 3 months (yuan)"),
    ("return_rate", "double", "(revenue - cost) / revenue this month"),
    ("is_key_person", "boolean", "key person of a corporate group"),
    ("in_snapshot", "boolean", "member of the snapshot cohort (value.snapshot_month)"),
    ("r_score", "int", "RFM recency 1-5: top-up or bill this month 5, in the 2 months before 3, else 1"),
    ("f_score", "int", "RFM frequency 1-5: quintile of outgoing calls + SMS this month"),
    ("m_score", "int", "RFM monetary 1-5: quintile of the 3-month average revenue"),
    ("rfm", "string", "the three scores, e.g. 535"),
    ("monthly_margin", "double", "3-month average revenue x return rate (yuan)"),
    ("p_stay_monthly", "double", "monthly retention probability from the stickiness model"),
    ("clv", "double", "customer lifetime value: discounted margin x retention over value.clv_horizon_months"),
    ("stickiness_model_version", "int", "stickiness model version behind p_stay_monthly"),
    ("scored_at", "timestamp", "when the scoring run started (UTC)"),
]

VALUE_TIERS = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("value_tier", "string", "tier"),
    ("subscribers", "long", "subscribers in the tier"),
    ("share", "double", "share of the month's scored subscribers"),
    ("avg_revenue_3m", "double", "average 3-month revenue of the tier (yuan)"),
    ("avg_value_score", "double", "average value index of the tier"),
    ("snapshot_subscribers", "long", "snapshot-cohort members in the tier"),
    ("snapshot_share", "double", "share of the month's snapshot-cohort members in this tier"),
    ("key_persons", "long", "corporate key persons in the tier"),
    ("key_person_share", "double", "share of the month's key persons in this tier"),
]

STICKINESS = [
    *_KEY,
    ("stickiness_score", "double", "P(stay over stickiness.horizon_months) x 100, from the leaf's "
                                   "training rows"),
    ("stickiness_tier", "string", "high (>= stickiness.tiers.high), mid (>= tiers.mid), low"),
    ("leaf", "int", "leaf of the tree that decided the row"),
    ("rule_path", "string", "that leaf's path in words"),
    *_STAMP,
]

ANOMALY = [
    *_KEY,
    ("anomaly_score", "double", "P(leave within anomaly.horizon_months) x 100, from the leaf's "
                                "training rows"),
    ("is_anomalous", "boolean", "anomaly_score >= anomaly.flag_threshold"),
    ("fired_indicators", "array<string>", "indicators on the path whose branch raised the risk"),
    ("leaf", "int", "leaf of the tree that decided the row"),
    ("rule_path", "string", "that leaf's path in words"),
    *_STAMP,
]

MODEL_RULES = [
    ("model_name", "string", "registered model, the partition"),
    ("model_version", "int", "registered version"),
    ("leaf", "int", "leaf index (the model's leafCol)"),
    ("rule", "string", "path -> score shown by the model, training subscriber-months in the leaf"),
    ("rule_path", "string", "the conditions only"),
    ("depth", "int", "conditions on the path before merging"),
    ("subscribers", "long", "training subscriber-months in the leaf (past models.fit_sample: "
                            "the sample's, weighted back up)"),
    ("leavers", "long", "of those, cancelled within the horizon"),
    ("leaver_share", "double", "leavers / subscribers"),
    ("balanced_leaver_share", "double", "leaver share with both classes weighted equally"),
    ("raising_indicators", "array<string>", "indicators whose branch raised the leaver share"),
    ("is_champion", "boolean", "the version held the champion alias when the rules were written"),
    ("trained_at", "timestamp", "when the rules were written (UTC)"),
]

MODEL_LIFT = [
    ("model_name", "string", "registered model, the partition"),
    ("model_version", "int", "registered version"),
    ("decile", "int", "1 = the tenth of held-out rows with the highest score"),
    ("subscribers", "double", "held-out subscriber-months in the decile (a tie cut by the boundary "
                              "is shared pro rata)"),
    ("positives", "double", "leavers / takers among them"),
    ("rate", "double", "positives / subscribers"),
    ("base_rate", "double", "the rate over all held-out rows"),
    ("lift", "double", "rate / base rate"),
    ("holdout_months", "string", "held-out months, comma-separated"),
    ("trained_at", "timestamp", "when the table was written (UTC)"),
]

SEGMENTS = [
    *_KEY,
    ("segment", "int", "segment number of the model version"),
    ("segment_name", "string", "generated name: the features well above average"),
    ("segment_group", "string", "marketing_first, retention_first, corporate_related or do_not_market "
                                "(segments.groups, on this month's profile)"),
    *_STAMP,
]

SEGMENT_PROFILES = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("segment", "int", "segment number"),
    ("segment_name", "string", "generated name"),
    ("segment_group", "string", "group from the configured rules"),
    ("subscribers", "long", "subscribers in the segment"),
    ("share", "double", "share of the month's subscribers"),
    ("avg_value_score", "double", "average value index"),
    ("avg_stickiness", "double", "average stickiness score"),
    ("avg_tenure_months", "double", "average tenure"),
    ("distinguishing", "array<string>", "features furthest from the average, e.g. 'data 3.2x the average'"),
    ("feature_means", "map<string,double>", "mean of each usage feature in the segment"),
    ("feature_ratios", "map<string,double>", "segment mean / population mean per feature"),
    *_STAMP,
]

PROPENSITY = [
    *_KEY,
    ("model", "string", "propensity model (propensity.models key), e.g. news"),
    ("service", "string", "the service it predicts"),
    ("probability", "double", "P(takes the service within propensity.horizon_months): the logistic "
                              "scorer's (propensity.scorer: logistic) or the leaf's share of takers"),
    ("decile", "int", "1 = the tenth of the month's population most likely to take it"),
    ("leaf", "int", "leaf of the tree that decided the row"),
    ("rule_path", "string", "the path of the model's tree that describes the row, in words"),
    *_STAMP,
]

LD_TARGETS = [
    *_KEY,
    ("ld_region", "string", "region receiving most of the subscriber's long-distance minutes"),
    ("ld_region_share", "double", "its share of those minutes"),
    ("ld_minutes", "double", "long-distance minutes in the call circle this month"),
    ("long_distance_min", "double", "outgoing long-distance minutes billed this month"),
    ("region_targets", "long", "targeted subscribers with the same region this month"),
    ("segment_name", "string", "usage segment of the subscriber"),
    ("scored_at", "timestamp", "when the scoring run started (UTC)"),
]

MARKETING_MATRIX = [
    *_KEY,
    ("value_tier", "string", "value tier (gold.value)"),
    ("value_score", "double", "AHP value index"),
    ("stickiness_tier", "string", "stickiness tier (gold.stickiness)"),
    ("stickiness_score", "double", "P(stay) x 100"),
    ("is_anomalous", "boolean", "anomaly flag (gold.anomaly)"),
    ("anomaly_score", "double", "P(leave within the anomaly horizon) x 100"),
    ("segment", "int", "usage segment (gold.segments)"),
    ("segment_name", "string", "its generated name"),
    ("segment_group", "string", "its group this month"),
    ("top_service_model", "string", "propensity model with the highest probability for the subscriber "
                                    "(null: in no model's population)"),
    ("top_service_probability", "double", "that probability"),
    ("matrix_rule", "int", "number of the marketing.matrix rule that decided the strategy (1-based)"),
    ("strategy", "string", "retention_top, retention_second, marketing_led, moderate_marketing or "
                           "do_not_disturb"),
    ("scored_at", "timestamp", "when the run started (UTC)"),
]

MATRIX_SUMMARY = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("value_tier", "string", "value tier"),
    ("stickiness_tier", "string", "stickiness tier"),
    ("is_anomalous", "boolean", "anomaly flag"),
    ("segment_group", "string", "segment group"),
    ("matrix_rule", "int", "the rule covering the cell"),
    ("strategy", "string", "the cell's strategy"),
    ("subscribers", "long", "subscribers in the cell"),
    ("share", "double", "share of the month's subscribers"),
]

RECOMMENDATIONS = [
    *_KEY,
    ("offer_code", "string", "offer of the catalog (marketing.offers): type x method x requirement x gift"),
    ("offer_name", "string", "what the offer is"),
    ("slot", "string", "retention, service or usage"),
    ("family", "string", "discount family; two offers of one family are never both recommended"),
    ("offer_type", "string", "uplift, retention or care (the code's first digit)"),
    ("method", "string", "gift, discount, lottery, trial or service (second digit)"),
    ("requirement", "string", "what the subscriber commits to (third digit)"),
    ("gift", "string", "what the subscriber gets (fourth digit)"),
    ("cadence", "string", "monthly_batch or daily_trigger"),
    ("channel", "string", "channel chosen for the offer (the first of its channels if not recommended)"),
    ("strategy", "string", "the subscriber's marketing-matrix strategy"),
    ("propensity", "double", "probability the subscriber takes the offer (its propensity expression)"),
    ("clv", "double", "the subscriber's customer lifetime value (gold.value, yuan)"),
    ("strategy_weight", "double", "weight of the strategy for the offer's slot (marketing.strategy_weights)"),
    ("cost", "double", "cost of the offer per taker (yuan)"),
    ("score", "double", "propensity x CLV x strategy weight - cost"),
    ("recommended", "boolean", "on the subscriber's list"),
    ("rank", "int", "position on the list, 1 first (null: not recommended)"),
    ("slot_rank", "int", "position within its slot, 1 or 2 (null: not recommended)"),
    ("reason", "string", "why: strategy, the eligibility rule, the scores; or why it was left off"),
    ("scored_at", "timestamp", "when the run started (UTC)"),
]

MARKETING_EXCLUSIONS = [
    *_KEY,
    ("exclusion_codes", "array<string>", "global exclusions (marketing.exclusions) that hold"),
    ("exclusion_reasons", "array<string>", "their readable reasons"),
    ("strategy", "string", "the subscriber's marketing-matrix strategy"),
    ("scored_at", "timestamp", "when the run started (UTC)"),
]

DISCOUNT_AUDIT = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("discount", "string", "discount received: a bundle type, or discount_plan"),
    ("receivers", "long", "subscribers receiving it this month"),
    ("low_return_high_stickiness", "long", "of those, with a low return rate and high stickiness "
                                           "(marketing.discount_audit)"),
    ("share_flagged", "double", "low_return_high_stickiness / receivers"),
    ("monthly_cost", "double", "discount granted to the flagged subscribers this month (yuan)"),
    ("overlap_rate", "double", "share of the flagged who also receive another discount"),
    ("yearly_cost", "double", "monthly_cost x 12"),
    ("revenue_at_risk", "double", "yearly revenue the flagged would take with them if they left: "
                                  "sum of (1 - P(stay)) x 3-month average revenue x 12"),
    ("saving_if_cleaned", "double", "yearly_cost - revenue_at_risk: what stopping the discount saves"),
]

SEGMENT_CODES = [
    *_KEY,
    ("trend_class", "string", "1 stable, 21/22/23 spend/voice/data rising, 3 declining, "
                              "41/42/43 spend/voice/data decline warning, 5 pre-cancel or cancelled"),
    ("dimension", "int", "2 spend, 3 minutes, 4 data (the trend's dimension; spend for 1, 3, 5)"),
    ("band", "int", "band of the subscriber in that dimension (segment_codes.bands)"),
    ("segment_code", "string", "trend class-dimension-band, e.g. 23-4-03"),
    ("spend_band", "int", "revenue band"),
    ("minutes_band", "int", "MOU band"),
    ("data_band", "int", "data volume band"),
    ("tenure_band", "int", "tenure band"),
    ("has_bundle", "boolean", "a bundle (commitment) is running"),
]

SEGMENT_CODE_SUMMARY = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("trend_class", "string", "trend class"),
    ("subscribers", "long", "subscribers in the class"),
    ("share", "double", "share of the month's subscribers"),
    ("bundle_rate", "double", "share of the class with a running bundle (binding rate)"),
    ("avg_revenue", "double", "average revenue this month"),
]

GROUP_PRIORITY = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("group_id", "string", "corporate group"),
    ("industry", "string", "industry"),
    ("group_return_rate", "double", "(group revenue - group cost) / group revenue"),
    ("return_band", "string", "above_85, 75_85, 50_75, 0_50 or below_0 (corporate.return_bands)"),
    ("members", "long", "subscribers of the group this month"),
    ("key_persons", "long", "key persons among them"),
    ("key_person_value", "string", "best value tier of its key persons: low, mid or high (mid_high/high)"),
    ("priority", "int", "service priority cell, 1-15 (corporate.priority), 1 served first"),
]

GROUP_PRIORITY_SUMMARY = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("priority", "int", "service priority cell, 1-15"),
    ("return_band", "string", "return-rate band of the cell"),
    ("key_person_value", "string", "key-person value of the cell"),
    ("groups", "long", "corporate groups in the cell (0 when empty)"),
    ("share", "double", "share of the month's groups"),
]

VPN_TARGETS = [
    *_KEY,
    ("role", "string", "seed (active VPN member of a seed segment group), target_1 (silent member "
                       "of a seed's VPN) or target_2 (not in the VPN, calls a seed often)"),
    ("vpn_group_id", "string", "the VPN the campaign is about"),
    ("seed_id", "string", "the seed who links the target (pseudonym; the subscriber itself for seeds)"),
    ("calls_with_seed", "long", "calls between target and seed this month (seeds: 0)"),
    ("vpn_min", "double", "the subscriber's VPN minutes this month"),
]

_LIFT = [
    ("contacts_treatment", "long", "contacted subscribers (treatment arm)"),
    ("contacts_control", "long", "held-out subscribers (control arm; never counted as treated)"),
    ("responses_treatment", "long", "treated subscribers who took the offer"),
    ("responses_control", "long", "control subscribers who took it anyway"),
]
_LIFT_STATS = [
    ("response_rate_treatment", "double", "responses / contacts, treatment"),
    ("response_rate_control", "double", "responses / contacts, control"),
    ("lift", "double", "absolute lift: treatment rate - control rate"),
    ("lift_low", "double", "lower end of its 95 % confidence interval (Wald)"),
    ("lift_high", "double", "upper end of its 95 % confidence interval"),
    ("relative_lift", "double", "treatment rate / control rate - 1"),
    ("z", "double", "two-proportion z statistic (pooled)"),
    ("p_value", "double", "two-sided p-value of the z-test"),
]

CAMPAIGN_RESULTS = [
    ("month", "string", "contact month (yyyy-MM), the partition"),
    ("campaign_id", "string", "campaign"),
    ("offer_code", "string", "offer"),
    ("channel", "string", "channel"),
    ("segment_name", "string", "usage segment in the contact month; (all) = every segment"),
    *_LIFT,
    ("revenue_change_treatment", "double", "mean revenue of the 3 months after the contact month minus the 3 "
                                           "before, treatment (null until a month after exists)"),
    ("revenue_change_control", "double", "the same for control"),
    ("unit_cost", "double", "the offer's cost per taker (marketing.offers; null: not in the catalog)"),
    *_LIFT_STATS,
    ("incremental_revenue", "double", "(revenue change treatment - control) x treated contacts x 3 months"),
    ("cost", "double", "treated responders x unit cost"),
    ("return_on_cost", "double", "incremental revenue / cost"),
    ("significant", "boolean", "p-value below 0.05"),
]

CAMPAIGN_UPLIFT = [
    ("month", "string", "contact month (yyyy-MM), the partition"),
    ("campaign_id", "string", "campaign"),
    ("offer_code", "string", "offer"),
    ("model", "string", "propensity model behind the offer (its p_<model>)"),
    ("decile", "int", "the contacted subscriber's decile of that model in the contact month, 1 = top"),
    *_LIFT,
    *_LIFT_STATS,
]

SUBSCRIBER_TAGS = [
    *_KEY,
    ("service_needs", "array<string>", "propensity models where the subscriber is in the top two deciles"),
    ("usage_need", "string", "usage segment name"),
    ("preferred_channel", "string", "channel with the most responses (then contacts) so far; null: never "
                                    "contacted"),
    ("offers_accepted", "array<string>", "offers taken after a treatment contact so far"),
    ("contacts_treated", "long", "treatment contacts up to the month's end"),
    ("responses", "long", "of those, taken"),
    ("promotion_sensitivity", "string", "high (>= 20 % taken), medium (>= 5 %), low, unknown (no contact)"),
]

MARKETING_TRACK = [
    *_KEY,
    ("offer_code", "string", "offer"),
    ("recommended", "boolean", "on the subscriber's list that month (gold.recommendations)"),
    ("recommended_channel", "string", "channel of the recommendation"),
    ("rank", "int", "its rank on the list"),
    ("contacted", "boolean", "a campaign selected the subscriber for the offer that month"),
    ("arm", "string", "treatment or control (null: not contacted)"),
    ("contact_channel", "string", "channel of the contact"),
    ("contact_date", "date", "date of the contact"),
    ("taken", "boolean", "the offer was taken (response date present)"),
    ("response_date", "date", "when it was taken"),
    ("revenue", "double", "revenue in the month"),
    ("revenue_2m_after", "double", "revenue two months later (null until then)"),
    ("revenue_change", "double", "revenue_2m_after - revenue"),
]

KPIS = [
    ("month", "string", "month (yyyy-MM), the partition"),
    ("kpi", "string", "KPI name (see description)"),
    ("value", "double", "numerator / denominator (low_usage_mou_change: minus 1)"),
    ("numerator", "double", "numerator"),
    ("denominator", "double", "denominator"),
    ("description", "string", "what the KPI measures"),
]

"""Call-circle graph features on Spark DataFrames (MISSION.md item 3).

GraphFrames' JVM artifact is not published on the Maven Central mirror this
project builds from, so PageRank and the community structure are written with
DataFrame operations. Every algorithm runs for many months at once: a vertex is
(month, subscriber), numbered by a long (`index_vertices`) so that iterations move
longs rather than subscriber strings; each month's graph is independent and one
iteration advances all of them. Iterations end in `localCheckpoint()` so that the
plan does not grow with the number of iterations. Results are checked against
networkx in the tests.

Hubs (call centres and the like, in-degree above a configured threshold) are
left out of PageRank, communities and the circle shares of everyone else, and
flagged `is_hub`.
"""

from __future__ import annotations

import logging

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

log = logging.getLogger(__name__)

ONNET_OPERATORS = ("own", "own_other_region")


def index_vertices(vertices: DataFrame) -> DataFrame:
    """(month, id) -> (month, id, vid): a long per vertex that grows with (month, id).

    The iterations shuffle and join these longs instead of the subscriber strings, and,
    the order being kept, the smallest vid of a month is its smallest id.
    """
    return (vertices.select("month", "id").orderBy("month", "id")
            .withColumn("vid", F.monotonically_increasing_id()).localCheckpoint())


def _vid_edges(edges: DataFrame, index: DataFrame) -> DataFrame:
    """(month, src, dst[, minutes]) on ids -> (src, dst[, minutes]) on vids; edges with an
    end outside `index` are dropped."""
    ends = index.select("month", F.col("id").alias("end"), "vid")
    extra = ["minutes"] if "minutes" in edges.columns else []
    return (
        edges.select("month", "src", "dst", *extra)
        .join(ends.withColumnsRenamed({"end": "dst", "vid": "dst_vid"}), on=["month", "dst"], how="inner")
        .join(ends.withColumnsRenamed({"end": "src", "vid": "src_vid"}), on=["month", "src"], how="inner")
        .select(F.col("src_vid").alias("src"), F.col("dst_vid").alias("dst"), *extra)
    )


def _with_ids(by_vid: DataFrame, index: DataFrame, *, label: str | None = None) -> DataFrame:
    """(vid, ...) -> (month, id, ...); a `label` column holding vids becomes their ids."""
    out = index.join(by_vid, on="vid", how="inner")
    if label:
        names = index.select(F.col("vid").alias(label), F.col("id").alias("_label"))
        out = out.join(names, on=label, how="inner").withColumn(label, F.col("_label"))
    return out.select("month", "id", *[c for c in by_vid.columns if c != "vid"])


def own_edges(edges: DataFrame, index: DataFrame) -> DataFrame:
    """Directed subscriber-to-subscriber edges (src, dst vids, minutes) between the vertices
    of `index` (see `index_vertices`)."""
    return _vid_edges(
        edges.where(F.col("callee_operator") == "own")
        .select("month", F.col("caller_id").alias("src"), F.col("callee_id").alias("dst"), "minutes"),
        index)


def in_degrees(edges: DataFrame) -> DataFrame:
    """(month, subscriber_id, in_degree): distinct callers of each number."""
    return edges.groupBy("month", F.col("callee_id").alias("subscriber_id")) \
        .agg(F.count("*").alias("in_degree"))


def hubs(degrees: DataFrame, *, min_in_degree: int) -> DataFrame:
    """(month, id) of numbers called by at least `min_in_degree` distinct subscribers;
    `degrees` as `in_degrees` gives them."""
    return degrees.where(F.col("in_degree") >= min_in_degree) \
        .select("month", F.col("subscriber_id").alias("id"))


def pagerank(vertices: DataFrame, edges: DataFrame, *, reset_probability: float = 0.15,
             max_iter: int = 30, tol: float = 1e-3) -> DataFrame:
    """PageRank of every (month, id) vertex on the directed (month, src, dst) edges.

    The same definition as networkx.pagerank without weights: teleport uniformly,
    dangling vertices spread their rank uniformly, ranks of a month sum to one.
    A month iterates until the L1 change of its ranks is below `tol` (its ranks then
    stay as they are), or `max_iter`: a month's ranks do not depend on the other
    months computed with it. Output: month, id, pagerank.

    Not networkx's stopping rule, `tol` x the vertex count: a month of a million
    subscribers meets that after the first iteration at any usual `tol`, and its ranks
    are then not PageRank (at 1M and 1e-6: 17 % of the community leaders of 3+ members
    other than those of the converged ranks). The L1 change of ranks that sum to one
    means the same for a city of any size.
    """
    index = index_vertices(vertices)
    pairs = _vid_edges(edges, index).select("src", "dst").distinct()  # `_pagerank` holds them
    return _with_ids(_pagerank(index, pairs, reset_probability=reset_probability,
                               max_iter=max_iter, tol=tol), index)


def _pagerank(index: DataFrame, edges: DataFrame, *, reset_probability: float, max_iter: int,
              tol: float) -> DataFrame:
    """`pagerank` on vids: `index` from `index_vertices`, edges (src, dst), each pair once (the
    call edges' key is caller, callee and month: `own_edges` holds each once, and is not
    shuffled again to drop duplicates). Output: vid, pagerank.

    The edges are held hashed by their source (persisted: a checkpoint would forget how its
    rows are partitioned): each iteration hashes the ranks alike and joins them with the edges
    where these lie, and shuffles the ranks and the sums of the shares per destination, never
    the edges (a month of a million subscribers takes seven iterations at tol 1e-3)."""
    alpha = 1.0 - reset_probability
    parts = int(edges.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    edges = edges.select("src", "dst").repartition(parts, "src").persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return _pagerank_iterations(index, edges, alpha=alpha, max_iter=max_iter, tol=tol)
    finally:
        edges.unpersist()


def _pagerank_iterations(index: DataFrame, edges: DataFrame, *, alpha: float, max_iter: int,
                         tol: float) -> DataFrame:
    """`_pagerank`'s iterations over `edges` held hashed by source. Output: vid, pagerank."""
    out_degree = edges.groupBy(F.col("src").alias("vid")).agg(F.count("*").alias("out_degree"))
    sizes = index.groupBy("month").agg(F.count("*").alias("n"))
    state = (
        index.select("month", "vid").join(out_degree, on="vid", how="left")
        .join(F.broadcast(sizes), on="month", how="inner")
        .select("month", "vid", F.coalesce("out_degree", F.lit(0)).alias("out_degree"), "n",
                (1.0 / F.col("n")).alias("rank"))
        .localCheckpoint()
    )
    converged: list[str] = []  # months whose ranks stay as they are
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        contributions = (
            edges.join(state.where(F.col("out_degree") > 0)
                       .select(F.col("vid").alias("src"),
                               (F.col("rank") / F.col("out_degree")).alias("share")),
                       on="src", how="inner")
            .groupBy(F.col("dst").alias("vid")).agg(F.sum("share").alias("incoming"))
        )
        dangling = state.where(F.col("out_degree") == 0).groupBy("month") \
            .agg(F.sum("rank").alias("dangling"))
        rank = (alpha * (F.coalesce("incoming", F.lit(0.0)) + F.coalesce("dangling", F.lit(0.0)) / F.col("n"))
                + (1.0 - alpha) / F.col("n"))
        if converged:
            rank = F.when(F.col("month").isin(converged), F.col("rank")).otherwise(rank)
        new = (
            state.join(contributions, on="vid", how="left")
            .join(F.broadcast(dangling), on="month", how="left")
            .select("month", "vid", "out_degree", "n", F.col("rank").alias("previous"), rank.alias("rank"))
            .localCheckpoint()
        )
        changes = (new.groupBy("month").agg(F.sum(F.abs(F.col("rank") - F.col("previous"))).alias("err"))
                   .collect())  # one row per month
        converged = sorted({*converged, *(r["month"] for r in changes if r["err"] < tol)})
        state = new.drop("previous")
        if len(converged) == len(changes):
            break
    log.info("pagerank: %d iteration(s)", iterations)
    return state.select("vid", F.col("rank").alias("pagerank"))


def strong_tie_communities(vertices: DataFrame, edges: DataFrame, *, min_minutes: float,
                           max_iter: int = 50) -> DataFrame:
    """Communities as the connected parts of the strong-tie graph.

    A strong tie joins two subscribers who called each other in the month with at
    least `min_minutes` minutes in the two directions together (families,
    colleagues, close friends). Connected components by iterated minimum label.
    Output: month, id, community (the smallest id of the component).
    """
    index = index_vertices(vertices)
    return _with_ids(_communities(index, _vid_edges(edges, index), min_minutes=min_minutes,
                                  max_iter=max_iter), index, label="community")


def _communities(index: DataFrame, edges: DataFrame, *, min_minutes: float, max_iter: int) -> DataFrame:
    """`strong_tie_communities` on vids: edges (src, dst, minutes). Output: vid, community
    (the smallest vid of the component)."""
    pairs = edges.select(
        F.least("src", "dst").alias("a"), F.greatest("src", "dst").alias("b"),
        F.when(F.col("src") < F.col("dst"), 1).otherwise(2).alias("direction"), "minutes")
    ties = (
        pairs.groupBy("a", "b")
        .agg(F.min("direction").alias("first"), F.max("direction").alias("last"),
             F.sum("minutes").alias("minutes"))
        .where((F.col("first") < F.col("last")) & (F.col("minutes") >= min_minutes))
        .select("a", "b")
    )
    links = ties.unionByName(ties.select(F.col("b").alias("a"), F.col("a").alias("b"))).localCheckpoint()
    labels = index.select("vid", F.col("vid").alias("community")).localCheckpoint()
    iterations = 0
    for _ in range(max_iter):
        iterations += 1
        neighbour_min = (
            links.join(labels.select(F.col("vid").alias("b"), F.col("community").alias("nb")),
                       on="b", how="inner")
            .groupBy(F.col("a").alias("vid")).agg(F.min("nb").alias("nb"))
        )
        new = (
            labels.join(neighbour_min, on="vid", how="left")
            .select("vid", F.least("community", F.coalesce("nb", "community")).alias("community"),
                    (F.coalesce("nb", "community") < F.col("community")).alias("changed"))
            .localCheckpoint()
        )
        changed = new.where("changed").limit(1).count()
        labels = new.drop("changed")
        if changed == 0:
            break
    log.info("communities: %d iteration(s)", iterations)
    return labels


def _circle(edges: DataFrame, hub_ids: DataFrame) -> DataFrame:
    """The edges whose callee is not a hub. The hubs are few (numbers called by hundreds of
    subscribers) but, checkpointed, of unknown size to the planner: broadcast, so that the
    edges are not shuffled for this join alone."""
    return edges.join(F.broadcast(hub_ids.select("month", F.col("id").alias("callee_id"))),
                      on=["month", "callee_id"], how="left_anti")


def _with_churned(circle: DataFrame, churned: DataFrame) -> DataFrame:
    return circle.join(churned.select("month", F.col("id").alias("callee_id"), "is_leader",
                                      F.lit(True).alias("gone")),
                       on=["month", "callee_id"], how="left")


def _churned_columns() -> list:
    gone = F.col("gone").isNotNull().cast("int")
    return [F.sum(gone).alias("circle_churned"),
            (F.sum(gone) / F.count("*")).alias("circle_churned_share"),
            F.sum(F.coalesce(F.col("is_leader").cast("int"), F.lit(0))).alias("circle_churned_leaders")]


def circle_features(edges: DataFrame, subscribers: DataFrame, hub_ids: DataFrame,
                    churned: DataFrame | None = None) -> DataFrame:
    """Breadth, depth and operator shares of each subscriber's call circle in the month.

    `edges`: bronze call edges; `subscribers`: (month, subscriber_id, home_city,
    group_id, is_key_person, vpn_group_id) of the month; `hub_ids`: (month, id).
    Hub contacts are left out. With `churned`, the columns of `churned_contacts` come
    from the same aggregation. Output: month, subscriber_id and the circle columns.
    """
    callee = subscribers.select(
        "month", F.col("subscriber_id").alias("callee_id"), F.col("group_id").alias("callee_group"),
        F.col("is_key_person").alias("callee_key_person"),
        F.col("vpn_group_id").alias("callee_vpn"))
    caller = subscribers.select("month", F.col("subscriber_id").alias("caller_id"),
                                F.col("vpn_group_id").alias("caller_vpn"))
    # the joins on the callee first, then the caller's, which the grouping by caller then
    # needs no shuffle of its own for: the edges are shuffled twice, not four times
    circle = _circle(edges, hub_ids).join(callee, on=["month", "callee_id"], how="left")
    if churned is not None:
        circle = _with_churned(circle, churned)
    circle = circle.join(caller, on=["month", "caller_id"], how="left")
    n = F.count("*")
    op = F.col("callee_operator")
    return circle.groupBy("month", F.col("caller_id").alias("subscriber_id")).agg(
        n.alias("circle_breadth"),
        F.sum("minutes").alias("circle_depth"),
        F.sum("calls").alias("circle_calls"),
        F.sum("sms").alias("circle_sms"),
        (F.sum(op.isin(*ONNET_OPERATORS).cast("int")) / n).alias("circle_onnet_share"),
        (F.sum((op == "competitor").cast("int")) / n).alias("circle_competitor_share"),
        (F.sum((op == "fixed").cast("int")) / n).alias("circle_fixed_share"),
        (F.sum(F.when(op == "competitor", F.col("minutes")).otherwise(0.0))
         / F.greatest(F.sum("minutes"), F.lit(1e-9))).alias("circle_competitor_minutes_share"),
        F.countDistinct("callee_group").alias("circle_groups"),
        F.sum(F.coalesce(F.col("callee_key_person").cast("int"), F.lit(0))).alias("circle_key_persons"),
        (F.sum((F.col("callee_vpn") == F.col("caller_vpn")).cast("int")) / n).alias("vpn_breadth_share"),
        *(_churned_columns() if churned is not None else []),
    )


def churned_contacts(edges: DataFrame, churned: DataFrame, hub_ids: DataFrame) -> DataFrame:
    """Share of each circle that churned: `churned` holds (month, id, is_leader) of the
    contacts who left in the month before `month`. Output: month, subscriber_id,
    circle_churned, circle_churned_share, circle_churned_leaders."""
    return _with_churned(_circle(edges, hub_ids), churned) \
        .groupBy("month", F.col("caller_id").alias("subscriber_id")).agg(*_churned_columns())


def region_flows(edges: DataFrame, subscribers: DataFrame) -> DataFrame:
    """Minutes from each subscriber to each callee region in the month, and whether that
    region is long distance (not the caller's home city). Output: month, subscriber_id,
    callee_region, long_distance, minutes; the hub contacts included. A subscriber's
    circle depth is the sum of their flows (`graph_features`), the long-distance flow
    their top long-distance region (`long_distance_flow`): one pass over the edges for both.
    """
    home = subscribers.select("month", F.col("subscriber_id").alias("caller_id"), "home_city")
    return (
        edges.join(home, on=["month", "caller_id"], how="inner")
        .groupBy("month", F.col("caller_id").alias("subscriber_id"), "callee_region",
                 (F.col("callee_region") != F.col("home_city")).alias("long_distance"))
        .agg(F.sum("minutes").alias("minutes"))
    )


def long_distance_flow(flows: DataFrame) -> DataFrame:
    """The region that receives most of a subscriber's long-distance minutes, and its share.

    `flows`: `region_flows`. Long distance: a callee region other than the caller's home
    city. Output: month, subscriber_id, ld_top_region, ld_top_region_share, ld_regions,
    ld_minutes.
    """
    per_caller = Window.partitionBy("month", "subscriber_id")
    ranked = flows.where(F.col("long_distance")).select(
        "*", F.sum("minutes").over(per_caller).alias("ld_minutes"),
        F.count("*").over(per_caller).alias("ld_regions"),
        F.row_number().over(per_caller.orderBy(F.desc("minutes"), "callee_region")).alias("rank"))
    return ranked.where(F.col("rank") == 1).select(
        "month", "subscriber_id",
        F.col("callee_region").alias("ld_top_region"),
        (F.col("minutes") / F.greatest(F.col("ld_minutes"), F.lit(1e-9))).alias("ld_top_region_share"),
        "ld_regions", "ld_minutes")


def held_for_join(df: DataFrame) -> DataFrame:
    """`df` computed and held (`localCheckpoint`), marked for a broadcast join when its rows,
    at the planner's width per row, fit the session's broadcast threshold: the planner
    cannot size rows computed from checkpoints and would shuffle the other side, however
    big, to join them. One count reaches the driver, and the rows only under the threshold,
    as they would for a side whose size the planner knows."""
    held = df.localCheckpoint()
    threshold = held.sparkSession._jsparkSession.sessionState().conf().autoBroadcastJoinThreshold()
    width = 8 + held._jdf.schema().defaultSize()
    return F.broadcast(held) if 0 <= held.count() * width <= threshold else held


def community_roles(communities: DataFrame, ranks: DataFrame, depth: DataFrame) -> DataFrame:
    """Size, role and circle depth relative to the community average of each member.

    `depth`: (month, id, depth). Role: `leader` for the member with the highest
    PageRank of a community of two or more (to 15 decimals; ties: smallest id), `follower` for the
    others, `single` alone. Output: month, id, pagerank, community, community_size,
    community_role, depth_vs_community. (Revenue deviation is computed where
    revenue and communities meet, in `pipeline.features`.)
    """
    members = communities.join(ranks, on=["month", "id"], how="inner") \
        .join(depth, on=["month", "id"], how="left")
    group = Window.partitionBy("month", "community")
    # PageRanks equal by the graph's symmetry differ in their last bits by the order their
    # shares were summed in, which differs between runs (and a cluster and local mode): to
    # 15 decimals they tie, and the smallest id leads, in every run
    ordered = group.orderBy(F.desc(F.round("pagerank", 15)), "id")
    size = F.count("*").over(group)
    return members.select(
        "month", "id", "pagerank", "community", size.alias("community_size"),
        F.when(size == 1, F.lit("single"))
        .when(F.row_number().over(ordered) == 1, F.lit("leader")).otherwise(F.lit("follower"))
        .alias("community_role"),
        (F.col("depth") / F.avg("depth").over(group) - 1.0).alias("depth_vs_community"),
    )


def graph_features(edges: DataFrame, subscribers: DataFrame, *, months: list[str],
                   hub_min_in_degree: int, strong_tie_minutes: float, reset_probability: float,
                   max_iter: int, tol: float, previous_roles: DataFrame | None = None) -> DataFrame:
    """Every graph feature of every subscriber in `months`.

    `edges`, `subscribers`: bronze tables (any months; the month before each target
    month is used for churned contacts and their roles). Grain: one row per
    subscriber per month (the month's subscribers). Columns: the circle shares,
    in_degree, is_hub, pagerank, community, community_size, community_role, the
    deviations from the community, churned contacts and the long-distance flow.

    `previous_roles`: (month, id, community_role) of every month before a target
    month that is not a target itself, as an earlier run computed them (the churned
    contacts' leaders); the graph of those months is then not computed again.
    Without it, it is.
    """
    from sparkvalue.features.months import months_before, shift_month

    before = months_before(months)
    graph_months = sorted({*months, *(before if previous_roles is None else [])})
    e = edges.where(F.col("month").isin(graph_months))
    subs = subscribers.where(F.col("month").isin(graph_months))
    degrees = in_degrees(e).localCheckpoint()
    hub_ids = hubs(degrees, min_in_degree=hub_min_in_degree).localCheckpoint()
    index = index_vertices(subs.select("month", F.col("subscriber_id").alias("id"))
                           .join(F.broadcast(hub_ids), on=["month", "id"], how="left_anti"))
    directed = own_edges(e, index).localCheckpoint()
    ranks = _with_ids(_pagerank(index, directed, reset_probability=reset_probability, max_iter=max_iter,
                                tol=tol), index)
    communities = _with_ids(_communities(index, directed, min_minutes=strong_tie_minutes, max_iter=max_iter),
                            index, label="community")
    flows = region_flows(e, subs).localCheckpoint()
    depth = flows.groupBy("month", F.col("subscriber_id").alias("id")).agg(F.sum("minutes").alias("depth"))
    roles = community_roles(communities, ranks, depth).localCheckpoint()
    known_roles = roles.select("month", "id", "community_role")
    if previous_roles is not None:
        known_roles = known_roles.unionByName(
            previous_roles.where(F.col("month").isin(before)).select("month", "id", "community_role"))
    # the contacts who left are few: joined without shuffling the edges where they fit a broadcast
    churned = held_for_join(
        subscribers.where(F.col("month").isin(*months, *before) & (F.col("status") == "cancelled"))
        .select(shift_month(F.col("month"), 1).alias("month"), F.col("subscriber_id").alias("id"),
                F.col("month").alias("left_month"))
        .join(known_roles.select(F.col("month").alias("left_month"), "id",
                                 (F.col("community_role") == "leader").alias("is_leader")),
              on=["left_month", "id"], how="left"))
    target = F.col("month").isin(months)
    s = subs.where(target)
    e_t = e.where(target)
    key = ["month", "subscriber_id"]
    out = (
        s.select(*key)
        .join(circle_features(e_t, s, hub_ids, churned), on=key, how="left")
        .join(degrees.where(target), on=key, how="left")
        .join(F.broadcast(hub_ids.withColumnRenamed("id", "subscriber_id").withColumn("is_hub", F.lit(True))),
              on=key, how="left")
        .join(roles.withColumnRenamed("id", "subscriber_id"), on=key, how="left")  # with the PageRank
        .join(long_distance_flow(flows.where(target)), on=key, how="left")
    )
    return out.select(
        *[c for c in out.columns if c not in ("is_hub", "circle_breadth", "in_degree")],
        F.coalesce("circle_breadth", F.lit(0)).alias("circle_breadth"),
        F.coalesce("in_degree", F.lit(0)).alias("in_degree"),
        F.coalesce("is_hub", F.lit(False)).alias("is_hub"),
    )

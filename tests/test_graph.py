"""Graph algorithms on DataFrames, checked against networkx."""

import networkx as nx
import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from sparkvalue.features import graph

MONTH = "2026-01"


def _frames(spark, g: nx.DiGraph, month: str = MONTH, minutes=None):
    vertices = spark.createDataFrame([(month, f"v{n:03d}") for n in g.nodes], "month string, id string")
    rows = [(month, f"v{a:03d}", f"v{b:03d}", float((minutes or {}).get((a, b), 1.0)))
            for a, b in g.edges]
    edges = spark.createDataFrame(rows, "month string, src string, dst string, minutes double")
    return vertices, edges


def _directed(g: nx.Graph) -> nx.DiGraph:
    return g.to_directed() if not g.is_directed() else g


GRAPHS = {
    "karate": lambda: _directed(nx.karate_club_graph()),
    "les_miserables": lambda: _directed(nx.convert_node_labels_to_integers(nx.les_miserables_graph())),
    "random_directed_with_dangling": lambda: nx.gnp_random_graph(80, 0.04, seed=3, directed=True),
}


def test_pagerank_matches_networkx_for_every_month_on_its_own(spark):
    """Three graphs as three months of one run: each month's ranks are networkx's for that graph
    alone (months do not mix), dangling vertices included."""
    frames, expected, dangling = [], {}, 0
    for i, (name, make) in enumerate(GRAPHS.items(), start=1):
        g = nx.DiGraph(make())
        g.remove_edges_from(nx.selfloop_edges(g))
        month = f"2026-0{i}"
        frames.append(_frames(spark, g, month))
        expected[month] = (name, g.number_of_nodes(), nx.pagerank(g, alpha=0.85, tol=1e-13, max_iter=500,
                                                                  weight=None))
        dangling += sum(1 for _, degree in g.out_degree() if degree == 0)
    assert dangling > 0
    vertices = frames[0][0].unionByName(frames[1][0]).unionByName(frames[2][0])
    edges = frames[0][1].unionByName(frames[1][1]).unionByName(frames[2][1])
    got: dict[str, dict[str, float]] = {}
    for r in graph.pagerank(vertices, edges, max_iter=200, tol=1e-10).collect():
        got.setdefault(r["month"], {})[r["id"]] = r["pagerank"]
    assert set(got) == set(expected)
    for month, (name, size, ranks) in expected.items():
        assert len(got[month]) == size, name
        for node, value in ranks.items():
            assert got[month][f"v{node:03d}"] == pytest.approx(value, abs=1e-6), (name, node)


def test_pagerank_tolerance_is_the_l1_change_of_the_ranks_whatever_the_vertex_count(spark):
    """`tol` bounds the L1 change of a month's ranks, which sum to one. networkx stops at `tol` x
    the vertex count: 2,000 vertices at tol 1e-3 meet that after one iteration, 0.45 (L1) from
    the converged ranks; here the month iterates on (eight iterations) to within 1e-3 of them."""
    g = nx.DiGraph(nx.scale_free_graph(2000, seed=7))
    g.remove_edges_from(nx.selfloop_edges(g))
    vertices, edges = _frames(spark, g)
    got = {r["id"]: r["pagerank"] for r in graph.pagerank(vertices, edges, max_iter=100, tol=1e-3).collect()}
    converged = nx.pagerank(g, alpha=0.85, tol=1e-13, max_iter=500, weight=None)
    assert len(got) == len(converged)
    assert sum(abs(got[f"v{n:03d}"] - rank) for n, rank in converged.items()) < 1e-3


def _partition(rows, key="community"):
    groups = {}
    for r in rows:
        groups.setdefault(r[key], set()).add(r["id"])
    return {frozenset(members) for members in groups.values()}


@pytest.mark.parametrize("seed", [1, 2])
def test_strong_tie_communities_match_networkx(spark, seed):
    import random

    rng = random.Random(seed)
    base = nx.gnp_random_graph(70, 0.06, seed=seed, directed=True)
    minutes = {(a, b): float(rng.choice([2, 5, 8, 15, 30])) for a, b in base.edges}
    vertices, edges = _frames(spark, base, minutes=minutes)
    rows = graph.strong_tie_communities(vertices, edges, min_minutes=20.0).collect()
    got = _partition(rows)
    # a community is named by its smallest member id
    assert all(r["community"] == min(next(c for c in got if r["id"] in c)) for r in rows)
    strong = nx.Graph()
    strong.add_nodes_from(base.nodes)
    for a, b in base.edges:
        if base.has_edge(b, a) and minutes[(a, b)] + minutes[(b, a)] >= 20.0:
            strong.add_edge(a, b)
    expected = {frozenset(f"v{n:03d}" for n in comp) for comp in nx.connected_components(strong)}
    assert got == expected
    assert any(len(c) > 1 for c in expected)


def test_circle_breadth_depth_and_degrees_match_networkx(spark):
    g = nx.gnp_random_graph(40, 0.1, seed=5, directed=True)
    minutes = {(a, b): float((a * 7 + b) % 13 + 1) for a, b in g.edges}
    rows = [(MONTH, f"v{a:03d}", f"v{b:03d}", 1, minutes[(a, b)], 0, "own", "wenzhou")
            for a, b in g.edges]
    edges = spark.createDataFrame(rows, "month string, caller_id string, callee_id string, calls int, "
                                  "minutes double, sms int, callee_operator string, callee_region string")
    subs = spark.createDataFrame([(MONTH, f"v{n:03d}", None, False, None) for n in g.nodes],
                                 "month string, subscriber_id string, group_id string, "
                                 "is_key_person boolean, vpn_group_id string")
    no_hubs = spark.createDataFrame([], "month string, id string")
    circle = {r["subscriber_id"]: r for r in graph.circle_features(edges, subs, no_hubs).collect()}
    for node in g.nodes:
        if g.out_degree(node) == 0:
            assert f"v{node:03d}" not in circle
            continue
        row = circle[f"v{node:03d}"]
        assert row["circle_breadth"] == g.out_degree(node)
        assert row["circle_depth"] == pytest.approx(sum(minutes[(node, b)] for b in g.successors(node)))
        assert row["circle_onnet_share"] == 1.0
    indeg = {r["subscriber_id"]: r["in_degree"] for r in graph.in_degrees(edges).collect()}
    assert indeg == {f"v{n:03d}": d for n, d in g.in_degree() if d > 0}


def test_hubs_are_numbers_called_by_many(spark):
    rows = [(MONTH, f"c{i}", "hub", 1, 1.0, 0, "own", "x") for i in range(5)] + \
           [(MONTH, "c0", "c1", 1, 1.0, 0, "own", "x")]
    edges = spark.createDataFrame(rows, "month string, caller_id string, callee_id string, calls int, "
                                  "minutes double, sms int, callee_operator string, callee_region string")
    assert_df_equality(graph.hubs(graph.in_degrees(edges), min_in_degree=5),
                       spark.createDataFrame([(MONTH, "hub")], "month string, id string"),
                       ignore_nullable=True)


def test_churned_neighbour_shares_match_networkx(spark):
    g = nx.gnp_random_graph(50, 0.08, seed=9, directed=True)
    churned_nodes = {3, 7, 11, 20, 31}
    leaders = {7, 20}
    rows = [(MONTH, f"v{a:03d}", f"v{b:03d}") for a, b in g.edges]
    edges = spark.createDataFrame(rows, "month string, caller_id string, callee_id string")
    churned = spark.createDataFrame([(MONTH, f"v{n:03d}", n in leaders) for n in churned_nodes],
                                    "month string, id string, is_leader boolean")
    no_hubs = spark.createDataFrame([], "month string, id string")
    got = {r["subscriber_id"]: r for r in graph.churned_contacts(edges, churned, no_hubs).collect()}
    for node in g.nodes:
        succ = set(g.successors(node))
        if not succ:
            continue
        row = got[f"v{node:03d}"]
        assert row["circle_churned"] == len(succ & churned_nodes)
        assert row["circle_churned_share"] == pytest.approx(len(succ & churned_nodes) / len(succ))
        assert row["circle_churned_leaders"] == len(succ & leaders)


def test_long_distance_flow(spark):
    rows = [(MONTH, "a", "x1", 10.0, "chengdu"), (MONTH, "a", "x2", 30.0, "chengdu"),
            (MONTH, "a", "x3", 20.0, "hefei"), (MONTH, "a", "x4", 99.0, "wenzhou"),
            (MONTH, "b", "x1", 5.0, "wenzhou")]
    edges = spark.createDataFrame(rows, "month string, caller_id string, callee_id string, "
                                  "minutes double, callee_region string")
    subs = spark.createDataFrame([(MONTH, "a", "wenzhou"), (MONTH, "b", "wenzhou")],
                                 "month string, subscriber_id string, home_city string")
    expected = spark.createDataFrame([(MONTH, "a", "chengdu", 40.0 / 60.0, 2, 60.0)],
                                     "month string, subscriber_id string, ld_top_region string, "
                                     "ld_top_region_share double, ld_regions long, ld_minutes double")
    flows = graph.region_flows(edges, subs)
    assert_df_equality(
        flows,
        spark.createDataFrame([(MONTH, "a", "chengdu", True, 40.0), (MONTH, "a", "hefei", True, 20.0),
                               (MONTH, "a", "wenzhou", False, 99.0), (MONTH, "b", "wenzhou", False, 5.0)],
                              "month string, subscriber_id string, callee_region string, "
                              "long_distance boolean, minutes double"),
        ignore_nullable=True, ignore_row_order=True)
    assert_df_equality(graph.long_distance_flow(flows), expected, ignore_nullable=True)


def test_held_rows_are_broadcast_only_under_the_broadcast_threshold(spark):
    """The churned contacts come from checkpoints the planner cannot size: `held_for_join`
    counts them and marks them for a broadcast join when rows x width fit the threshold."""
    rows = spark.createDataFrame([(MONTH, f"c{i}", i % 2 == 0) for i in range(50)],
                                 "month string, id string, is_leader boolean")
    edges = spark.createDataFrame([(MONTH, f"c{i}") for i in range(0, 100, 3)], "month string, id string")

    def joined(threshold: str) -> tuple[bool, list]:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", threshold)
        held = graph.held_for_join(rows)
        plan = held._jdf.queryExecution().analyzed().toString()
        out = sorted(edges.join(held, ["month", "id"], "left").collect())
        return "strategy=broadcast" in plan, out

    previous = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    try:
        small, under = joined("10MB")
        big, over = joined("100b")  # 50 rows of ~60 bytes do not fit
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", previous)
    assert (small, big) == (True, False)
    assert under == over and len(under) == 34
    assert sum(r["is_leader"] is True for r in under) == len([i for i in range(0, 50, 3) if i % 2 == 0])


def test_community_roles(spark):
    communities = spark.createDataFrame(
        [(MONTH, "a", "a"), (MONTH, "b", "a"), (MONTH, "c", "a"), (MONTH, "d", "d")],
        "month string, id string, community string")
    ranks = spark.createDataFrame([(MONTH, "a", 0.1), (MONTH, "b", 0.5), (MONTH, "c", 0.2),
                                   (MONTH, "d", 0.2)], "month string, id string, pagerank double")
    depth = spark.createDataFrame([(MONTH, "a", 10.0), (MONTH, "b", 20.0), (MONTH, "c", 30.0),
                                   (MONTH, "d", 5.0)], "month string, id string, depth double")
    expected = spark.createDataFrame(
        [(MONTH, "a", 0.1, "a", 3, "follower", -0.5), (MONTH, "b", 0.5, "a", 3, "leader", 0.0),
         (MONTH, "c", 0.2, "a", 3, "follower", 0.5), (MONTH, "d", 0.2, "d", 1, "single", 0.0)],
        "month string, id string, pagerank double, community string, community_size long, "
        "community_role string, depth_vs_community double")
    assert_df_equality(graph.community_roles(communities, ranks, depth), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_churned_leaders_come_from_each_target_months_previous_month(spark):
    """c, the leader of a strong-tie pair with d in February, cancels in February; a calls c in
    March. Computed for January and March (not consecutive), March still sees c as a churned
    leader; given February's roles instead of February's calls, the same March comes out."""
    months = ["2026-01", "2026-02", "2026-03"]
    subs = spark.createDataFrame(
        [(m, s, "cancelled" if (m, s) == ("2026-02", "c") else "active", "city", None, False, None)
         for m in months for s in "abcdef"],
        "month string, subscriber_id string, status string, home_city string, group_id string, "
        "is_key_person boolean, vpn_group_id string")
    calls = {"2026-01": [("a", "b", 5.0)],
             "2026-02": [("c", "d", 30.0), ("d", "c", 30.0), ("b", "c", 5.0), ("e", "c", 5.0)],
             "2026-03": [("a", "c", 5.0), ("a", "e", 5.0)]}
    edges = spark.createDataFrame(
        [(m, src, dst, 1, minutes, 0, "own", "city")
         for m, rows in calls.items() for src, dst, minutes in rows],
        "month string, caller_id string, callee_id string, calls int, minutes double, sms int, "
        "callee_operator string, callee_region string")
    settings = dict(hub_min_in_degree=50, strong_tie_minutes=20.0, reset_probability=0.15, max_iter=20,
                    tol=1e-9)
    computed = graph.graph_features(edges, subs, months=["2026-01", "2026-03"], **settings) \
        .where("month = '2026-03'")
    a = computed.where("subscriber_id = 'a'").first()
    assert (a["circle_breadth"], a["circle_churned"], a["circle_churned_leaders"]) == (2, 1, 1)
    february = spark.createDataFrame([("2026-02", "c", "leader"), ("2026-02", "d", "follower")] +
                                     [("2026-02", s, "single") for s in "abef"],
                                     "month string, id string, community_role string")
    given = graph.graph_features(edges.where("month <> '2026-02'"), subs, months=["2026-03"],
                                 previous_roles=february, **settings)
    # PageRank sums in whatever order the shuffle delivers: equal to the last bits only (each month
    # stops iterating when it has converged, whichever months are computed with it)
    assert_approx_df_equality(given, computed.select(*given.columns), 1e-12, ignore_row_order=True,
                              ignore_nullable=True)

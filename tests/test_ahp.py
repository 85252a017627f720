"""AHP weights against a published example, and refusal of inconsistent matrices."""

import pytest

from sparkvalue.models.ahp import AhpError, ahp_weights, combine

# Saaty (2008), "Decision making with the analytic hierarchy process", Int. J. Services
# Sciences 1(1), table 2: relative consumption of drinks in the United States.
DRINKS = ["coffee", "wine", "tea", "beer", "sodas", "milk", "water"]
DRINKS_MATRIX = [
    [1, 9, 5, 2, 1, 1, "1/2"],
    ["1/9", 1, "1/3", "1/9", "1/9", "1/9", "1/9"],
    ["1/5", 3, 1, "1/3", "1/4", "1/3", "1/9"],
    ["1/2", 9, 3, 1, "1/2", 1, "1/3"],
    [1, 9, 4, 2, 1, 2, "1/2"],
    [1, 9, 3, 1, "1/2", 1, "1/3"],
    [2, 9, 9, 3, 2, 3, 1],
]
# the derived priorities printed in the paper (three decimals)
DRINKS_WEIGHTS = [0.177, 0.019, 0.042, 0.116, 0.190, 0.129, 0.327]


def test_saaty_drinks_example_is_reproduced():
    result = ahp_weights(DRINKS_MATRIX, DRINKS, name="drinks")
    assert [round(w, 3) for w in result.weights] == DRINKS_WEIGHTS
    assert sum(result.weights) == pytest.approx(1.0)
    assert result.lambda_max == pytest.approx(7.177, abs=1e-3)
    assert result.consistency_index == pytest.approx((result.lambda_max - 7) / 6)
    assert result.consistency_ratio == pytest.approx(0.022, abs=5e-4)  # CI / RI(7) = CI / 1.32


def test_consistent_matrix_gives_the_ratio_weights_and_zero_cr():
    # w = (4, 2, 1) / 7: every entry is w_i / w_j, so lambda_max = n and CR = 0
    result = ahp_weights([[1, 2, 4], ["1/2", 1, 2], ["1/4", "1/2", 1]], ["a", "b", "c"], name="m")
    assert result.weights == pytest.approx((4 / 7, 2 / 7, 1 / 7))
    assert result.lambda_max == pytest.approx(3.0)
    assert result.consistency_ratio == pytest.approx(0.0, abs=1e-9)


def test_inconsistent_matrix_is_refused_with_its_name_and_ratio():
    # a > b (9), b > c (9), yet c > a (9): a preference cycle
    cyclic = [[1, 9, "1/9"], ["1/9", 1, 9], [9, "1/9", 1]]
    with pytest.raises(AhpError, match=r"value\.ahp\.groups: consistency ratio \d+\.\d+ >= 0\.1"):
        ahp_weights(cyclic, ["a", "b", "c"], name="value.ahp.groups")


@pytest.mark.parametrize(("matrix", "message"), [
    ([[1, 2], ["1/2", 1], [1, 1]], r"must be 2x2"),
    ([[1, 3], [3, 1]], r"not reciprocal"),
    ([[2, 1], [1, 1]], r"diagonal entry \[0\]\[0\]"),
    ([[1, "x"], [1, 1]], r"entry \[0\]\[1\] = 'x' is not a number"),
    ([[1, -2], ["-1/2", 1]], r"must be a positive number"),
])
def test_malformed_matrices_are_refused(matrix, message):
    with pytest.raises(AhpError, match=message):
        ahp_weights(matrix, ["a", "b"], name="m")


def test_combine_multiplies_group_and_member_weights():
    groups = ahp_weights([[1, 3], ["1/3", 1]], ["g1", "g2"], name="groups")
    members = {"g1": ahp_weights([[1, 1], [1, 1]], ["x", "y"], name="g1"),
               "g2": ahp_weights([[1]], ["z"], name="g2")}
    weights = combine(groups, members)
    assert weights == pytest.approx({"x": 0.375, "y": 0.375, "z": 0.25})
    with pytest.raises(AhpError, match=r"no member matrix for group\(s\) \['g2'\]"):
        combine(groups, {"g1": members["g1"]})

"""Decision trees as readable rules: every leaf's path, in words.

A fitted tree is walked once on the driver (it has at most 2^maxDepth leaves).
Leaves are numbered left first, depth first, which is the numbering of the
model's `leafCol` output, so a scored row finds its rule by that number.
Conditions on the same indicator along a path are merged into one range.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pyspark.ml import PipelineModel
from pyspark.ml.classification import DecisionTreeClassificationModel
from pyspark.ml.feature import StringIndexerModel
from pyspark.sql import Column
from pyspark.sql import functions as F

from sparkvalue.models.indicators import Indicator


@dataclass
class _Bounds:
    """What a path says about one indicator: a numeric range or a set of categories."""

    lower: float | None = None  # value > lower
    upper: float | None = None  # value <= upper
    categories: frozenset[str] | None = None

    def text(self, ind: Indicator) -> str:
        if self.categories is not None:
            return f"{ind.label} in {{{', '.join(sorted(self.categories))}}}"
        if ind.kind == "flag":
            return f"{ind.label}: {'yes' if self.lower is not None else 'no'}"
        if self.lower is not None and self.upper is not None:
            return f"{_num(self.lower)} < {ind.label} <= {_num(self.upper)}"
        if self.lower is not None:
            return f"{ind.label} > {_num(self.lower)}"
        return f"{ind.label} <= {_num(self.upper)}"


@dataclass
class Leaf:
    index: int
    conditions: list[str]
    raising: list[str]  # labels of the indicators whose branch raised the positive share
    depth: int
    bounds: dict[str, _Bounds] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> str:
        return " and ".join(self.conditions) or "all subscribers"


def _num(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def tree_stage(model: PipelineModel) -> DecisionTreeClassificationModel:
    tree = model.stages[-1]
    if not isinstance(tree, DecisionTreeClassificationModel):
        raise TypeError(f"the pipeline must end in a decision tree, not {type(tree).__name__}")
    return tree


def indexed_columns(model: PipelineModel) -> dict[str, tuple[str, list[str]]]:
    """Indexed column -> (the column it indexes, the category each index stands for), from the
    pipeline's StringIndexer models: one per column (models trained before 2026-12) or one
    indexing every column at once."""
    out: dict[str, tuple[str, list[str]]] = {}
    for stage in model.stages:
        if not isinstance(stage, StringIndexerModel):
            continue
        if stage.isSet(stage.inputCols):
            out.update(zip(stage.getOutputCols(), zip(stage.getInputCols(), map(list, stage.labelsArray),
                                                      strict=True), strict=True))
        else:
            out[stage.getOutputCol()] = (stage.getInputCol(), list(stage.labels))
    return out


def category_labels(model: PipelineModel) -> dict[str, list[str]]:
    """Indexed column -> the category each index stands for."""
    return {column: labels for column, (_, labels) in indexed_columns(model).items()}


def tree_leaves(model: PipelineModel, indicators: tuple[Indicator, ...]) -> list[Leaf]:
    """Every leaf of the pipeline's tree with its path, in leaf-index order."""
    labels = category_labels(model)
    slots = [(ind, labels.get(index_column(ind))) for ind in indicators]
    leaves: list[Leaf] = []

    def positive_share(node) -> float:
        stats = list(node.impurityStats().stats())
        total = sum(stats)
        return stats[1] / total if total and len(stats) > 1 else 0.0

    def walk(node, bounds: dict[str, _Bounds], order: list[str], raising: list[str], depth: int):
        if node.getClass().getSimpleName() != "InternalNode":
            conditions = [bounds[name].text(next(i for i, _ in slots if i.name == name))
                          for name in order]
            leaves.append(Leaf(len(leaves), conditions, sorted(set(raising)), depth, bounds))
            return
        split = node.split()
        ind, cats = slots[split.featureIndex()]
        parent_share = positive_share(node)
        for child, side in ((node.leftChild(), "left"), (node.rightChild(), "right")):
            narrowed = dict(bounds)
            narrowed[ind.name] = _narrow(bounds.get(ind.name, _Bounds()), split, side, cats)
            up = raising + ([ind.label] if positive_share(child) > parent_share else [])
            walk(child, narrowed, order + ([ind.name] if ind.name not in order else []), up, depth + 1)

    walk(tree_stage(model)._call_java("rootNode"), {}, [], [], 0)
    return leaves


def leaf_expression(model: PipelineModel, indicators: tuple[Indicator, ...]) -> Column:
    """The pipeline's `leaf` (a double, as `model.transform` gives it) as one expression over the
    indicator columns (`indicators.assemble_inputs`): the tree's splits as nested conditions,
    without assembling feature vectors. A continuous split sends `value <= threshold` left (NaN
    right), a categorical split the categories whose StringIndexer index it lists left; a value
    the indexer did not see has index len(labels)."""
    labels = category_labels(model)
    slots = [(ind, labels.get(index_column(ind))) for ind in indicators]
    counter = itertools.count()

    def goes_left(split) -> Column:
        ind, cats = slots[split.featureIndex()]
        value = F.col(ind.name)
        if split.getClass().getSimpleName() == "CategoricalSplit":
            left = {int(c) for c in split.leftCategories()}
            known = [cats[i] for i in sorted(left) if i < len(cats)]
            seen = F.coalesce(value.isin(*known), F.lit(False)) if known else F.lit(False)
            if len(cats) in left:  # the bucket of unseen values (and nulls) goes left too
                seen = seen | F.coalesce(~value.isin(*cats), F.lit(True))
            return seen
        return F.coalesce(value <= F.lit(float(split.threshold())), F.lit(False))

    def walk(node) -> Column:
        if node.getClass().getSimpleName() != "InternalNode":
            return F.lit(float(next(counter)))
        split = node.split()
        left = walk(node.leftChild())  # left first: the leaves' numbering
        return F.when(goes_left(split), left).otherwise(walk(node.rightChild()))

    return walk(tree_stage(model)._call_java("rootNode"))


def _narrow(bounds: _Bounds, split, side: str, cats: list[str] | None) -> _Bounds:
    if split.getClass().getSimpleName() == "CategoricalSplit":
        chosen = split.leftCategories() if side == "left" else split.rightCategories()
        # index len(cats) is StringIndexer's bucket for values not seen in training
        names = frozenset(cats[int(c)] if cats and int(c) < len(cats) else "(other)"
                          for c in chosen)
        keep = names if bounds.categories is None else bounds.categories & names
        return _Bounds(categories=keep)
    threshold = float(split.threshold())
    if side == "left":
        upper = threshold if bounds.upper is None else min(bounds.upper, threshold)
        return _Bounds(lower=bounds.lower, upper=upper)
    lower = threshold if bounds.lower is None else max(bounds.lower, threshold)
    return _Bounds(lower=lower, upper=bounds.upper)


def index_column(ind: Indicator) -> str:
    """The column the pipeline feeds the tree for an indicator."""
    return f"{ind.name}_index" if ind.categorical else ind.name


def feature_importances(model: PipelineModel, indicators: tuple[Indicator, ...]) -> dict[str, float]:
    values = tree_stage(model).featureImportances.toArray()
    ranked = sorted(zip([i.name for i in indicators], map(float, values), strict=True),
                    key=lambda kv: -kv[1])
    return dict(ranked)


def rule_text(path: str, rate: float, subscribers: int) -> str:
    """`local minutes > 1,415 and ... -> 82.5%, 34,967 subscribers`."""
    return f"{path} → {100 * rate:.1f}%, {subscribers:,} subscribers"

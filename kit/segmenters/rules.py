"""Rule-based approaches: classic RFM quantile rules and a shallow decision tree on the campaign.

Both release rules a marketer reads directly (quantile edges; the tree's split conditions) along
with segment profiles.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from ..params import Spec
from ..vocabulary import ACTION_COST, ACTIONS, CATEGORIES, INCOME_BANDS
from .base import Segmenter, fit_sample, segment_profiles

RFM_COLUMNS = ("recency_days", "frequency", "monetary")


def _number(v: float) -> str:
    return f"{round(v, 1):g}"


def _money(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


class RFMSegmenter(Segmenter):
    """Recency / frequency / monetary quantile rules: each score in `n_bins` quantile bins of the campaign.

    Segment = the (R, F, M) score cell, so there are n_bins**3 segments (a cell nobody falls into
    stays an empty segment). The quantile edges are the released rules.
    """

    name = "rfm"

    @classmethod
    def reads(cls) -> str:
        return "recency, frequency, monetary"

    summary = "classic RFM rules: recency, frequency and monetary value each cut at campaign quantiles"
    releases = "the quantile edges (rules) and segment profiles of recency, frequency, monetary"
    param_specs = {"n_bins": Spec(int, 3, "quantile bins per score (segments = n_bins cubed)", low=2, high=5)}

    def __init__(self, n_bins: int = 3):
        self.n_bins = n_bins

    def features(self, customers):
        return pd.DataFrame({c: customers[c].to_numpy(dtype=float) for c in RFM_COLUMNS}, index=customers.index)

    def _fit(self, customers, feats):
        # Edges are observed values ("higher" quantiles), so the rules in words are exact.
        q = np.arange(1, self.n_bins) / self.n_bins
        self.edges_ = {c: np.quantile(feats[c].to_numpy(), q, method="higher") for c in RFM_COLUMNS}
        return self

    def scores(self, feats: pd.DataFrame) -> np.ndarray:
        """R, F, M scores 0..n_bins-1 per customer (higher = more recent, more frequent, bigger spender)."""
        b = self.n_bins
        out = np.empty((len(feats), 3), dtype=np.int64)
        for j, c in enumerate(RFM_COLUMNS):
            bins = np.searchsorted(self.edges_[c], feats[c].to_numpy(), side="right")
            out[:, j] = (b - 1 - bins) if c == "recency_days" else bins
        return out

    def _predict(self, customers, feats):
        s = self.scores(feats)
        b = self.n_bins
        return s[:, 0] * b * b + s[:, 1] * b + s[:, 2]

    def _count_segments(self, labels):
        return self.n_bins**3

    def _cell(self, segment: int) -> tuple[int, int, int]:
        b = self.n_bins
        return segment // (b * b), (segment // b) % b, segment % b

    def _range(self, column: str, score: int) -> str:
        """The rule of one score in words, in the column's natural units."""
        e = self.edges_[column]
        b = self.n_bins
        j = (b - 1 - score) if column == "recency_days" else score  # bin index on the raw scale
        lo = None if j == 0 else e[j - 1]
        hi = None if j == b - 1 else e[j]
        unit = {
            "recency_days": "last purchase {} days ago",
            "frequency": "{} purchases a year",
            "monetary": "spend {} per purchase",
        }[column]
        fmt = _money if column == "monetary" else _number
        if lo is None:
            span = f"under {fmt(hi)}"
        elif hi is None:
            span = f"{fmt(lo)} or more"
        else:
            span = f"{fmt(lo)} to under {fmt(hi)}"
        return unit.format(span)

    def _name(self, r: int, f: int) -> str:
        top = self.n_bins - 1
        if r == top and f == top:
            return "Champions"
        if r == top and f == 0:
            return "New or occasional buyers"
        if r == 0 and f == top:
            return "At risk: used to buy often"
        if r == 0 and f == 0:
            return "Hibernating"
        return "Regulars"

    def rule(self, segment: int) -> str:
        """A segment's rule in words."""
        r, f, m = self._cell(segment)
        return ", ".join(self._range(c, s) for c, s in zip(RFM_COLUMNS, (r, f, m)))

    def _describe(self, feats, labels):
        sizes = np.bincount(labels, minlength=self.n_segments_)
        out = {}
        for s in range(self.n_segments_):
            r, f, m = self._cell(s)
            head = f"{self._name(r, f)} (R{r + 1} F{f + 1} M{m + 1})"
            share = (
                f"{100 * sizes[s] / len(labels):.0f}% of customers"
                if sizes[s]
                else "empty segment (no customers assigned)"
            )
            out[s] = f"{head}: {self.rule(s)}; {share}."
        return out

    def _release(self, feats, labels):
        rules = pd.DataFrame(
            {"rule": [self.rule(s) for s in range(self.n_segments_)]},
            index=pd.RangeIndex(self.n_segments_, name="segment"),
        )
        edges = pd.DataFrame(self.edges_, index=[f"q{i}/{self.n_bins}" for i in range(1, self.n_bins)])
        return {"rules": rules, "edges": edges, "profiles": segment_profiles(feats, labels, self.n_segments_)}


# How a split on each feature reads: (label, formatter of a threshold in the feature's natural units).
def _count(v: float) -> str:
    return f"{math.floor(v):g}"


_SPLIT_WORDS: dict[str, tuple[str, callable]] = {
    "log_recency": ("days since the last purchase", lambda t: _count(math.expm1(t))),
    "log_frequency": ("purchases a year", lambda t: _count(math.expm1(t))),
    "log_monetary": ("spend per purchase", lambda t: f"{math.expm1(t):.2f}"),
    "log_tenure": ("months as a customer", lambda t: _count(math.expm1(t))),
    **{f"aff_{c}": (f"share of spend on {c}", lambda t: f"{100 * t:.0f}%") for c in CATEGORIES},
    "engagement": ("share of messages engaged with", lambda t: f"{100 * t:.0f}%"),
    "contacts_90d": ("contacts in the last 90 days", _count),
    "age": ("age", _count),
}


def condition_words(feature: str, lo: float | None, hi: float | None) -> str:
    """A tree path's condition on one feature (lo < x <= hi, either side open) in plain words."""
    if feature.startswith("channel_"):
        c = feature.removeprefix("channel_")
        return f"prefer {c}" if lo is not None else f"do not prefer {c}"
    if feature == "gender_female":
        return "women" if lo is not None else "men"
    if feature == "income_band":
        first = 0 if lo is None else math.floor(lo) + 1
        last = len(INCOME_BANDS) - 1 if hi is None else math.floor(hi)
        if first == last:
            return f"income band {INCOME_BANDS[first]}"
        return f"income band {INCOME_BANDS[first]} to {INCOME_BANDS[last]}"
    label, fmt = _SPLIT_WORDS.get(feature, (feature, _number))
    if lo is None:
        return f"{label} at most {fmt(hi)}"
    if hi is None:
        return f"{label} over {fmt(lo)}"
    return f"{label} over {fmt(lo)} and at most {fmt(hi)}"


class TreeSegmenter(Segmenter):
    """A shallow regression tree on the historical campaign's responses: its leaves are the segments.

    The campaign gave actions at random, so for each contact action a, the inverse-propensity
    pseudo-outcome  psi_a = value * [action = a] / P(a) - value * [action = none] / P(none) - cost(a)
    has the customer's lift of a over no contact as its expectation. One multi-output tree on the
    three pseudo-outcomes splits where the lifts differ most, so each leaf is a group with its own
    best action, and its path is a readable rule. Reads behaviour, age, gender and income band;
    fits on at most `MAX_FIT_SAMPLES` campaign customers.
    """

    name = "tree"
    uses_responses = True
    reads_extra = "the campaign's actions and booked values"
    extra_columns = ("hist_action", "hist_value")
    summary = "shallow decision tree on the campaign's responses (interpretable rules on behaviour and demographics)"
    releases = "the tree's rules (one per segment) and segment profiles"
    feature_set = "aware"
    param_specs = {
        "max_depth": Spec(int, 3, "depth of the tree (at most 2**max_depth segments)", low=1, high=6),
        "min_leaf_share": Spec(
            float, 0.05, "smallest segment, as a share of the campaign customers", low=0.0, high=0.5, low_open=True
        ),
    }

    def __init__(self, max_depth: int = 3, min_leaf_share: float = 0.05, random_state: int | None = None):
        self.max_depth = max_depth
        self.min_leaf_share = min_leaf_share
        self.random_state = random_state

    def _fit(self, customers, feats):
        for col in ("hist_action", "hist_value"):
            if col not in customers.columns:
                raise ValueError(f"{self.name}: needs the campaign column {col!r} to fit")
        acts = customers["hist_action"].cat.codes.to_numpy()
        rows = np.flatnonzero(acts >= 0)
        rows = rows[fit_sample(len(rows), self.random_state)]
        acts = acts[rows]
        value = customers["hist_value"].to_numpy(dtype=float)[rows]
        share = np.bincount(acts, minlength=len(ACTIONS)) / len(acts)
        if (share == 0).any():
            missing = [a for a, s in zip(ACTIONS, share) if s == 0]
            raise ValueError(f"{self.name}: the campaign never gave {', '.join(missing)}; lifts cannot be estimated")
        base = value * (acts == 0) / share[0]
        psi = np.stack(
            [value * (acts == j) / share[j] - base - ACTION_COST[a] for j, a in enumerate(ACTIONS) if j > 0], axis=1
        )
        leaf = max(1, math.ceil(self.min_leaf_share * len(rows)))
        self.tree_ = DecisionTreeRegressor(
            max_depth=self.max_depth, min_samples_leaf=leaf, random_state=self.random_state
        ).fit(feats.to_numpy()[rows], psi)
        t = self.tree_.tree_
        leaves = np.flatnonzero(t.children_left == -1)
        self.leaf_label_ = np.full(t.node_count, -1, dtype=np.int64)
        self.leaf_label_[leaves] = np.arange(len(leaves))
        self.rules_ = self._rules(list(feats.columns))
        return self

    def _predict(self, customers, feats):
        return self.leaf_label_[self.tree_.apply(feats.to_numpy())]

    def _count_segments(self, labels):
        return int((self.leaf_label_ >= 0).sum())

    def _rules(self, names: list[str]) -> list[str]:
        """Each leaf's path as a conjunction of conditions in words (tightest bound per feature)."""
        t = self.tree_.tree_
        rules: dict[int, str] = {}

        def walk(node: int, bounds: dict):
            if t.children_left[node] == -1:
                conds = [condition_words(names[f], lo, hi) for f, (lo, hi) in sorted(bounds.items())]
                rules[self.leaf_label_[node]] = "; ".join(conds) if conds else "all customers"
                return
            f, thr = int(t.feature[node]), float(t.threshold[node])
            lo, hi = bounds.get(f, (None, None))
            walk(t.children_left[node], {**bounds, f: (lo, thr if hi is None else min(hi, thr))})
            walk(t.children_right[node], {**bounds, f: (thr if lo is None else max(lo, thr), hi)})

        walk(0, {})
        return [rules[i] for i in range(len(rules))]

    def _describe(self, feats, labels):
        sizes = np.bincount(labels, minlength=self.n_segments_)
        return {
            s: f"{100 * sizes[s] / len(labels):.0f}% of customers; {self.rules_[s]}." for s in range(self.n_segments_)
        }

    def _release(self, feats, labels):
        rules = pd.DataFrame({"rule": self.rules_}, index=pd.RangeIndex(self.n_segments_, name="segment"))
        return {"rules": rules, "profiles": segment_profiles(feats, labels, self.n_segments_)}

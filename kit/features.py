"""Feature sets: which of the firm's columns an approach reads, as numeric tables, with declared bounds and spreads.

Used by the segmenters (what they fit on), the privacy measurements (what an attacker compares
with a release) and the proxy measurements (what behaviour reveals).

Feature sets (`FEATURE_SETS`):
- ``behaviour``: the 14 behaviour features (`FEATURES`: RFM and tenure as logs, category
  affinities, engagement, recent contacts, preferred channel one-hot);
- ``aware``: behaviour plus age, gender and income band, as a naive firm would use everything it
  holds (kmeans, gmm, tree, kanon, dp_kmeans, fair_kmeans, fair_targeting);
- ``unaware``: behaviour plus income band: the protected attributes (age, gender) dropped, so only
  their proxies remain (unaware);
- ``minimal``: recency, frequency, monetary value and engagement only (minimised).

On a researcher's own table (`kit.sources`), the frame carries its encoding in
``attrs[DATA_ATTR]`` and the feature sets are the declared ones instead (`declared_features`):
``behaviour`` and ``unaware`` = the declared features (numbers as they are, text one-hot);
``aware`` = those plus the declared protected attributes (bool as 0/1, text one-hot). Approaches
that need the generator's own columns (``minimal``, declared bounds, rules on RFM) are not offered.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from .params import ParameterError
from .vocabulary import (
    BEHAVIOUR,
    CATEGORIES,
    CHANNELS,
    COLUMN_PURPOSES,
    INCOME_BANDS,
    OLDER_AGE,
    QUASI_IDENTIFIERS,
    columns_outside_purpose,
)

# Numeric behaviour features, derived from the behaviour columns (never protected attributes).
FEATURES: tuple[str, ...] = (
    "log_recency",
    "log_frequency",
    "log_monetary",
    "log_tenure",
    *(f"aff_{c}" for c in CATEGORIES),
    "engagement",
    "contacts_90d",
    *(f"channel_{c}" for c in CHANNELS),
)

# The firm's columns each feature is computed from (what reading the feature means reading).
FEATURE_SOURCES: dict[str, tuple[str, ...]] = {
    "log_recency": ("recency_days",),
    "log_frequency": ("frequency",),
    "log_monetary": ("monetary",),
    "log_tenure": ("tenure_months",),
    **{f"aff_{c}": (f"aff_{c}",) for c in CATEGORIES},
    "engagement": ("engagement",),
    "contacts_90d": ("contacts_90d",),
    **{f"channel_{c}": ("channel",) for c in CHANNELS},
    "age": ("age",),
    "gender_female": ("gender",),
    "income_band": ("income_band",),
}


def source_columns(features) -> tuple[str, ...]:
    """The firm's columns a list of features is computed from, each once, in first-use order.
    A name that is itself a column (rfm reads raw recency, frequency, monetary) stands for itself."""
    out: dict[str, None] = {}
    for f in features:
        for c in FEATURE_SOURCES.get(f, (f,)):
            out[c] = None
    return tuple(out)


# Demographic features: age in years, gender as one indicator, income band as its rank 0..4.
DEMOGRAPHIC: tuple[str, ...] = ("age", "gender_female", "income_band")
PROTECTED_FEATURES: tuple[str, ...] = ("age", "gender_female")

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "behaviour": FEATURES,
    "aware": (*FEATURES, *DEMOGRAPHIC),
    "unaware": (*FEATURES, *(f for f in DEMOGRAPHIC if f not in PROTECTED_FEATURES)),
    "minimal": ("log_recency", "log_frequency", "log_monetary", "engagement"),
}

FEATURE_SET_DOCS: dict[str, str] = {
    "behaviour": "behaviour only (RFM, tenure, affinities, engagement, contacts, channel)",
    "aware": "behaviour + age, gender, income band",
    "unaware": "behaviour + income band (age and gender dropped)",
    "minimal": "recency, frequency, monetary, engagement",
}

# Declared bounds of every feature in its natural units (domain knowledge, not read from data):
# differential privacy clips into them; anything outside is set to the nearest bound.
FEATURE_BOUNDS: dict[str, tuple[float, float]] = {
    "log_recency": (0.0, math.log1p(730.0)),  # up to two years since the last purchase
    "log_frequency": (0.0, math.log1p(40.0)),  # up to 40 purchases a year
    "log_monetary": (math.log1p(1.0), math.log1p(2000.0)),  # 1 to 2000 per purchase
    "log_tenure": (0.0, math.log1p(480.0)),  # up to 40 years as a customer
    **{f"aff_{c}": (0.0, 1.0) for c in CATEGORIES},
    "engagement": (0.0, 1.0),
    "contacts_90d": (0.0, 12.0),
    **{f"channel_{c}": (0.0, 1.0) for c in CHANNELS},
    "age": (18.0, 100.0),
    "gender_female": (0.0, 1.0),
    "income_band": (0.0, float(len(INCOME_BANDS) - 1)),
}

# Declared typical value and spread of every feature in its natural units (domain knowledge, not
# read from data), so differential privacy can cluster in the geometry k-means uses (each feature
# centred and divided by its spread) without spending budget on estimating scales. They follow
# the population's design, not any fitted table: logs of recency (about a month, spread a factor
# of e^1.2), frequency, spend and tenure as a CRM analyst would know them; four channels and four
# category shares, each a quarter on average (a one-of-four indicator has spread sqrt(3)/4);
# engagement around a half; adults' ages; income bands are quintiles (uniform on 0..4, spread
# sqrt 2). Over 30 worlds (proxy strength 0, 0.5 and 1, seeds 0-9; each world draws its own
# segments) the campaign customers' standard deviation is 0.67-1.87 times the declared spread
# (age, gender and income 0.99-1.01; behaviour varies from world to world).
FEATURE_SPREADS: dict[str, tuple[float, float]] = {
    "log_recency": (3.3, 1.2),
    "log_frequency": (2.1, 0.55),
    "log_monetary": (4.1, 0.85),
    "log_tenure": (3.9, 0.9),
    **{f"aff_{c}": (0.25, 0.16) for c in CATEGORIES},
    "engagement": (0.5, 0.23),
    "contacts_90d": (2.5, 1.9),
    **{f"channel_{c}": (0.25, math.sqrt(3.0) / 4.0) for c in CHANNELS},
    "age": (50.0, 19.0),
    "gender_female": (0.5, 0.5),
    "income_band": (2.0, math.sqrt(2.0)),
}

# Groups of features that are shares of one whole: every customer's values are >= 0 and sum to at
# most 1 (channel: one-hot, exactly one is 1; category affinities: shares of spend). Differential
# privacy uses this to bound what one customer adds to a sum of the group's features.
SHARE_GROUPS: dict[str, tuple[str, ...]] = {
    "channel": tuple(f"channel_{c}" for c in CHANNELS),
    "affinity": tuple(f"aff_{c}" for c in CATEGORIES),
}


def behaviour_features(customers: pd.DataFrame) -> pd.DataFrame:
    """The numeric behaviour features (logs of skewed counts, channel one-hot); never protected attributes."""
    missing = [c for c in BEHAVIOUR if c not in customers.columns]
    if missing:
        raise KeyError(f"behaviour columns missing: {', '.join(missing)}")
    cols = {
        "log_recency": np.log1p(customers["recency_days"].to_numpy(dtype=float)),
        "log_frequency": np.log1p(customers["frequency"].to_numpy(dtype=float)),
        "log_monetary": np.log1p(customers["monetary"].to_numpy(dtype=float)),
        "log_tenure": np.log1p(customers["tenure_months"].to_numpy(dtype=float)),
    }
    for c in CATEGORIES:
        cols[f"aff_{c}"] = customers[f"aff_{c}"].to_numpy(dtype=float)
    cols["engagement"] = customers["engagement"].to_numpy(dtype=float)
    cols["contacts_90d"] = customers["contacts_90d"].to_numpy(dtype=float)
    ch = _codes(customers["channel"], CHANNELS)
    for j, c in enumerate(CHANNELS):
        cols[f"channel_{c}"] = (ch == j).astype(float)
    return pd.DataFrame(cols, index=customers.index)


def demographic_features(customers: pd.DataFrame) -> pd.DataFrame:
    """Age in years, a women indicator, and income band as its rank (0 = low .. 4 = high)."""
    return pd.DataFrame(
        {
            "age": customers["age"].to_numpy(dtype=float),
            "gender_female": (_codes(customers["gender"], ("female", "male")) == 0).astype(float),
            "income_band": _codes(customers["income_band"], INCOME_BANDS).astype(float),
        },
        index=customers.index,
    )


def _codes(col: pd.Series, categories) -> np.ndarray:
    """Integer code of each value in `categories` order (fast path for matching categoricals)."""
    if isinstance(col.dtype, pd.CategoricalDtype) and tuple(col.cat.categories) == tuple(categories):
        return col.cat.codes.to_numpy()
    values = col.astype(str).to_numpy()
    out = np.full(len(values), -1, dtype=np.int64)
    for j, c in enumerate(categories):
        out[values == c] = j
    return out


# Key of a customer frame's ``attrs`` that marks a researcher's table and holds its encoding:
# {"numeric": [...], "categorical": {column: [categories]}, "protected": {column: [categories] or None}}.
DATA_ATTR = "crmkit.data"
DATA_FEATURE_SETS = ("behaviour", "aware", "unaware")


def _one_hot(cols: dict, customers: pd.DataFrame, column: str, categories) -> None:
    """One indicator per category; a two-valued column gets one (of its first value: ``gender_female``)."""
    codes = _codes(customers[column], tuple(categories))
    for j, c in enumerate(categories[:1] if len(categories) == 2 else categories):
        cols[f"{column}_{c}"] = (codes == j).astype(float)


def declared_features(customers: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    """The feature table of a researcher's table (see the module docstring): declared features only,
    plus the protected attributes for ``aware``. Categories come from the whole table, so any subset
    of customers gets the same columns."""
    enc = customers.attrs[DATA_ATTR]
    if feature_set not in DATA_FEATURE_SETS:
        raise ParameterError(
            "feature_set",
            f"{feature_set!r} is not defined on a customer table; expected one of {', '.join(DATA_FEATURE_SETS)}",
        )
    cols: dict[str, np.ndarray] = {c: customers[c].to_numpy(dtype=float) for c in enc["numeric"]}
    for c, cats in enc["categorical"].items():
        _one_hot(cols, customers, c, cats)
    if feature_set == "aware":
        for c, cats in enc["protected"].items():
            if c in enc["numeric"] or c in enc["categorical"]:
                continue
            if cats is None:
                cols[c] = customers[c].to_numpy(dtype=float)
            else:
                _one_hot(cols, customers, c, cats)
    return pd.DataFrame(cols, index=customers.index)


# (id of a customer frame, feature set) -> (the frame, its feature table), while `reused_feature_tables` is on.
_REUSED: dict[tuple[int, str], tuple[pd.DataFrame, pd.DataFrame]] | None = None


@contextlib.contextmanager
def reused_feature_tables() -> Iterator[None]:
    """Inside this block `feature_table` computes the table of a given frame and feature set once and
    hands out shallow copies of it after that (under pandas' copy-on-write a caller's changes to its
    copy stay its own). For work that fits an approach many times on the same few frames: the canary
    audit's 28 fits on two frames spent about a fifth of their time rebuilding the same two tables.
    The frames are held until the block ends, so a cached frame's id cannot be taken by another one;
    they must not be changed in place meanwhile (membership, the audit and the tracing attack, never does)."""
    global _REUSED
    outer = _REUSED
    _REUSED = {} if outer is None else outer
    try:
        yield
    finally:
        _REUSED = outer


def feature_table(customers: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    """The numeric feature table of a named feature set (see `FEATURE_SETS`; `declared_features` on a
    researcher's table). Computed once per frame inside `reused_feature_tables`."""
    if _REUSED is None:
        return _feature_table(customers, feature_set)
    key = (id(customers), feature_set)
    hit = _REUSED.get(key)
    if hit is None or hit[0] is not customers:
        hit = _REUSED[key] = (customers, _feature_table(customers, feature_set))
    return hit[1].copy(deep=False)


def _feature_table(customers: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    if DATA_ATTR in customers.attrs:
        return declared_features(customers, feature_set)
    if feature_set not in FEATURE_SETS:
        raise ParameterError(
            "feature_set", f"unknown feature set {feature_set!r}; expected one of {', '.join(FEATURE_SETS)}"
        )
    cols = FEATURE_SETS[feature_set]
    table = behaviour_features(customers)
    if any(c in DEMOGRAPHIC for c in cols):
        table = pd.concat([table, demographic_features(customers)], axis=1)
    return table[list(cols)]


def group_mask(customers: pd.DataFrame, protected: str) -> np.ndarray:
    """The unprivileged group of a protected attribute: older = aged 65+, gender = women."""
    if protected == "older":
        return customers["older"].to_numpy(dtype=bool)
    return (customers["gender"].astype(str) == "female").to_numpy()


def group_mask_from_features(feats: pd.DataFrame, protected: str) -> np.ndarray:
    """The protected group, read from the aware feature table (age >= 65, or the women indicator)."""
    if protected == "older":
        return feats["age"].to_numpy() >= OLDER_AGE
    return feats["gender_female"].to_numpy() > 0.5


def masked_columns(purpose: str, limitation: bool) -> tuple[str, ...]:
    """Feature source columns an approach may not read for `purpose` (none when limitation is off)."""
    if not limitation:
        return ()
    sources = {c for cols in FEATURE_SOURCES.values() for c in cols} | set(QUASI_IDENTIFIERS)
    return tuple(c for c in columns_outside_purpose(COLUMN_PURPOSES, purpose) if c in sources)


# Key of a customer frame's ``attrs`` naming the columns `purpose_view` hid (public: the run's purpose
# decides them, not the data), so an approach can leave them out of its features altogether.
HIDDEN_ATTR = "crmkit.hidden"


def purpose_view(customers: pd.DataFrame, masked: tuple[str, ...]) -> pd.DataFrame:
    """The customer table as an approach may read it: each masked column set to one constant (its
    first category, or 0), so it carries no information about anyone and never sets a segment apart.
    The frame's ``attrs`` name them (`hidden_columns`)."""
    masked = tuple(c for c in masked if c in customers.columns)  # a customer table may not hold them all
    if not masked:
        return customers
    const = {}
    for c in masked:
        col = customers[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            const[c] = pd.Categorical.from_codes(np.zeros(len(col), dtype=np.int8), dtype=col.dtype)
        else:
            const[c] = np.zeros(len(col), dtype=col.dtype)
    view = customers.assign(**const)
    view.attrs = {**customers.attrs, HIDDEN_ATTR: masked}
    return view


def hidden_columns(customers: pd.DataFrame) -> tuple[str, ...]:
    """The columns `purpose_view` hid in this frame (none for a frame that did not pass through it)."""
    return tuple(customers.attrs.get(HIDDEN_ATTR, ()))


def without_hidden(feats: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """`feats` without the features computed only from columns hidden in `customers` (`hidden_columns`)."""
    hidden = set(hidden_columns(customers))
    if not hidden:
        return feats
    return feats[[f for f in feats.columns if not set(source_columns([f])) <= hidden]]

"""How much the firm's behaviour data reveals the protected attributes (proxy discrimination).

A segmentation that never reads age or gender can still sort customers by them when behaviour is
a proxy for them. The generator's ``proxy_strength`` knob sets how strong that proxy is; this module
measures it the way an auditor would: train a classifier on behaviour alone to predict a protected
attribute, and report its ROC AUC on customers it did not see (0.5: behaviour says nothing;
1: behaviour gives the attribute away).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from ..features import behaviour_features
from ..population import make_population

# What each target is, as a boolean: older = 65+; gender = male (AUC is symmetric in the label).
TARGETS: dict[str, str] = {"older": "aged 65 or over", "gender": "male (against female)"}


def _target(customers: pd.DataFrame, target: str) -> np.ndarray:
    if target == "older":
        return customers["older"].to_numpy()
    if target == "gender":
        return (customers["gender"] == "male").to_numpy()
    raise ValueError(f"target: unknown {target!r}; expected one of {', '.join(TARGETS)}")


def proxy_auc(
    customers: pd.DataFrame, target: str, *, random_state: int = 0, test_size: float = 0.3, max_iter: int = 60
) -> float:
    """ROC AUC of a gradient-boosted classifier predicting `target` from behaviour only.

    Fitted on a random (1 - test_size) share of the customers, scored on the rest, both seeded by
    `random_state`, so the figure is reproducible.
    """
    X, y = behaviour_features(customers).to_numpy(), _target(customers, target)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=test_size, random_state=random_state, stratify=y)
    # One OpenMP thread: the same AUC, and on a busy 2-core machine 0.2 s instead of 14 s at 20k
    # customers (two spinning OpenMP threads fighting other processes for the cores).
    with threadpool_limits(limits=1, user_api="openmp"):
        clf = HistGradientBoostingClassifier(max_iter=max_iter, random_state=random_state).fit(Xa, ya)
        scores = clf.predict_proba(Xb)[:, 1]
    return float(roc_auc_score(yb, scores))


def proxy_auc_by_strength(
    strengths: Iterable[float],
    *,
    n_customers: int = 20_000,
    random_state: int = 0,
    targets: Iterable[str] = tuple(TARGETS),
    **knobs,
) -> pd.DataFrame:
    """Proxy AUC for each target at each proxy strength (other knobs fixed): one row per pair.

    Each strength gets its own population, drawn with the same seed, so only the knob differs.
    Columns: proxy_strength, target, auc, base_rate (share of the target group), n_customers.
    """
    rows = []
    for s in strengths:
        c = make_population(n_customers, proxy_strength=float(s), random_state=random_state, **knobs).customers
        for t in targets:
            rows.append(
                {
                    "proxy_strength": float(s),
                    "target": t,
                    "auc": proxy_auc(c, t, random_state=random_state),
                    "base_rate": float(_target(c, t).mean()),
                    "n_customers": n_customers,
                }
            )
    return pd.DataFrame(rows)

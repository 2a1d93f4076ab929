"""Measuring a run on a researcher's own customer table, where there is no truth.

What a real table supports is measured exactly as on the generator: privacy (audience-file
re-identification on the declared quasi-identifiers, attribute inference of each declared protected
attribute, the membership attack on the release), fairness of the decisions across each declared
protected attribute (offer-rate parity, segment balance) and the ethics checks. Gain is estimated
off-policy from the randomised campaign log (`kit.run.offpolicy`). Metrics that need the true
response probabilities are *absent* from the run's metrics (never zero, never nan), and
`TRUTH_ONLY` says why, for the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..measures import audience_privacy, ethics_checks, min_segment_size, segment_balance
from ..measures.fairness import offer_parity
from ..measures.privacy import attribute_inference
from ..segmenters import Segmenter
from ..vocabulary import MIN_CELL

# Metrics of a generator run that a customer table cannot give (absent from its results) ...
TRUTH_METRICS: tuple[str, ...] = (
    "value_policy",
    "value_mass",
    "value_oracle",
    "gain_share",
    "gain_share_lo",
    "gain_share_hi",
    "eod_older",
    "eod_gender",
    "aod_older",
    "aod_gender",
    "value_oracle_ope",
    "gain_share_ope",
)
# ... and why (the report shows this).
WHY_NO_TRUTH = "needs each customer's true response probabilities and values, which a real table does not hold"
TRUTH_ONLY: dict[str, str] = {
    "value_policy, value_mass, value_oracle": WHY_NO_TRUTH + "; value_policy_ope estimates the policy's value instead",
    "gain_share (and its interval)": "needs the oracle's value (each customer's truly best action); gain_ope is the "
    "estimated gain over mass instead",
    "eod_*, aod_*": "equal opportunity and average odds need to know whom an offer truly helps",
    "value_oracle_ope, gain_share_ope": "the oracle reads the truth",
}


def protected_groups(holdout: pd.DataFrame, protected: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each protected column's values on the held-out customers (bool stays bool, text as text)."""
    out = {}
    for col in protected:
        s = holdout[col]
        out[col] = s.to_numpy(dtype=bool) if s.dtype == bool else s.astype(str).to_numpy()
    return out


def _balance(labels: np.ndarray, values: np.ndarray) -> float:
    """Segment balance of a bool column (its True group), else the lowest over each text group vs the rest."""
    if values.dtype == bool:
        return segment_balance(labels, values)
    return min(segment_balance(labels, values == v) for v in np.unique(values))


def offer_table(
    holdout: pd.DataFrame, decisions: pd.DataFrame, by: list[str], min_cell: int = MIN_CELL
) -> pd.DataFrame:
    """Customers and offer rate by group (no truth columns); cells under `min_cell` customers dropped."""
    df = holdout[by].copy()
    df["offered"] = decisions["offered"].to_numpy()
    g = df.groupby(by, observed=True)
    out = pd.DataFrame({"customers": g.size(), "offer_rate": g["offered"].mean()})
    return out[out["customers"] >= min_cell].reset_index()


def measure_without_truth(
    table,
    seg: Segmenter,
    decisions: pd.DataFrame,
    older_contact_cap: int,
    membership: dict,
    ope: dict,
) -> tuple[dict, dict]:
    """The run's metrics and tables on a customer table (`kit.sources.DataTable`); `ope` holds the
    off-policy metrics already computed (`offpolicy_metrics`, policy and mass) and `membership` the
    membership audit's (`kit.run.pipeline.membership`)."""
    spec = table.spec
    history, holdout = table.history, table.holdout
    labels = decisions["segment"].to_numpy()
    offered = decisions["offered"].to_numpy()
    groups = protected_groups(holdout, spec.protected)
    metrics = {
        **ope,
        "offer_rate": float(offered.mean()),
        "epsilon": seg.epsilon_,
        "n_released_segments": int(seg.n_segments_),
        "min_segment_size": min_segment_size(seg.release_["profiles"]["size"]),
        **audience_privacy(holdout[list(spec.quasi_identifiers)], labels),
        **membership,
    }
    for col in spec.protected:
        values = groups[col]
        positive = True if values.dtype == bool else pd.Series(history[col].astype(str)).mode().iloc[0]
        qi = tuple(q for q in spec.quasi_identifiers if q != col)
        ai = attribute_inference(
            history.assign(**{col: history[col].astype(values.dtype)}),
            seg.labels_,
            holdout.assign(**{col: values}),
            labels,
            col,
            positive,
            qi,
        )
        metrics[f"attr_inference_lift_{col}"] = ai["lift"]
    fair = {}
    for col in spec.protected:
        p = offer_parity(offered, groups[col])
        fair.update({f"spd_{col}": p["spd"], f"di_{col}": p["di"]})
    metrics.update(fair)
    metrics.update({f"balance_{col}": _balance(labels, groups[col]) for col in spec.protected})
    metrics.update(
        ethics_checks(
            holdout, decisions, seg.profiled(holdout), seg.descriptions_, seg.n_segments_, older_contact_cap, fair
        )
    )
    tables = {f"offers_by_{col}": offer_table(holdout, decisions, [col]) for col in spec.protected}
    if len(spec.protected) >= 2:
        a, b = spec.protected[:2]
        tables[f"offers_by_{a}_x_{b}"] = offer_table(holdout, decisions, [a, b])
    return metrics, tables


def data_summary(table) -> pd.DataFrame:
    """Sizes and rates of the campaign and held-out sets of a customer table: no customer rows."""
    rows = []
    for name, part in (("campaign", table.history), ("held-out", table.holdout), ("all", table.customers)):
        row = {
            "set": name,
            "customers": len(part),
            "profiling consent": part["profiling_consent"].mean(),
            "marketing consent": part["marketing_consent"].mean(),
        }
        for col in table.spec.protected:
            s = part[col]
            if s.dtype == bool:
                row[f"{col} share"] = s.mean()
            else:
                for v, share in s.astype(str).value_counts(normalize=True).sort_index().items():
                    row[f"{col} = {v}"] = share
        rows.append(row)
    return pd.DataFrame(rows).set_index("set").round(3)


def mapping_table(spec) -> pd.DataFrame:
    """The data block as a table: each role and the columns that play it."""
    rows = [
        ("source", spec.describe_source()),
        ("id", spec.id),
        ("protected", ", ".join(spec.protected)),
        ("quasi-identifiers", ", ".join(spec.quasi_identifiers)),
        ("features", ", ".join(spec.features)),
        ("profiling consent", spec.consent or "(not declared: everyone may be profiled)"),
        ("marketing consent", spec.marketing_consent or "(not declared: everyone may be contacted)"),
    ]
    if spec.campaign is not None:
        c = spec.campaign
        rows += [
            ("campaign log", f"member {c.member}, action {c.action}, response {c.response}, value {c.value}"),
            ("propensity", str(c.propensity)),
        ]
    rows.append(("actions (contact cost)", ", ".join(f"{a} ({v:g})" for a, v in spec.actions.items())))
    return pd.DataFrame(rows, columns=["role", "columns"]).set_index("role")


def absent_table() -> pd.DataFrame:
    """The generator metrics a customer table cannot give, and why."""
    return pd.DataFrame({"why absent": TRUTH_ONLY}).rename_axis("metrics")

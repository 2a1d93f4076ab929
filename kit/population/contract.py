"""The data contract: what each column means and holds (`SCHEMA`), and `validate_customers`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..vocabulary import (
    ACTIONS,
    AGE_BAND_EDGES,
    AGE_BANDS,
    CATEGORIES,
    CHANNELS,
    GENDERS,
    INCOME_BANDS,
    N_POSTCODE_AREAS,
    OLDER_AGE,
    POSTCODE_AREAS,
)

# --- The data contract: what each column means and what it may hold ---------------------------

# What each column means, also written into every datasheet.
COLUMN_DOCS: dict[str, str] = {
    "customer_id": "opaque identifier (a seeded random number, no order information)",
    "age": "age in years (protected attribute)",
    "age_band": "age band, " + ", ".join(AGE_BANDS) + " (protected; quasi-identifier)",
    "older": "aged 65 or over (protected)",
    "gender": "female or male (protected; quasi-identifier)",
    "postcode_area": f"one of {N_POSTCODE_AREAS} postcode areas (quasi-identifier)",
    "income_band": "income band, " + ", ".join(INCOME_BANDS) + " (quasi-identifier)",
    "recency_days": "days since the last purchase",
    "frequency": "purchases in the last year",
    "monetary": "average spend per purchase",
    "tenure_months": "months as a customer",
    "channel": "preferred channel: " + ", ".join(CHANNELS),
    **{f"aff_{c}": f"share of spend on {c} (the four affinities sum to 1)" for c in CATEGORIES},
    "engagement": "share of messages opened or acted on (0 to 1)",
    "contacts_90d": "marketing contacts received in the last 90 days",
    "marketing_consent": "agreed to be contacted with offers",
    "profiling_consent": "agreed to be segmented on personal data (without it: the mass treatment only)",
    "in_campaign": "took part in the historical randomised campaign (else: held-out)",
    "hist_action": "action the campaign gave at random (campaign customers only)",
    "hist_response": "response the campaign recorded (label bias may have dropped some)",
    "hist_value": "revenue the firm booked from the recorded response",
    "latent_segment": "TRUTH: the generator's latent segment",
    **{f"p_{a}": f"TRUTH: probability of a purchase under action '{a}'" for a in ACTIONS},
    **{f"v_{a}": f"TRUTH: value of that purchase under action '{a}' (before the contact cost)" for a in ACTIONS},
    "hist_true_response": "TRUTH: the campaign response before label bias",
}


@dataclass(frozen=True)
class ColumnRule:
    """What one column must hold: a kind of dtype and, where it applies, a range or categories."""

    kind: str  # "string", "bool", "int", "float" or "category"
    low: float | None = None
    high: float | None = None  # None with a low bound: any finite value >= low
    categories: tuple[str, ...] | None = None
    nullable: bool = False  # only hist_action: null exactly outside the campaign (checked separately)

    def expected_dtype(self) -> str:
        """The dtype as an error message states it."""
        return {
            "string": "a string dtype",
            "bool": "bool",
            "int": "an integer dtype",
            "float": "a float dtype",
            "category": "category",
        }[self.kind]

    def allowed(self) -> str:
        """Plain-language allowed values, for the datasheet."""
        if self.categories is not None:
            return ", ".join(self.categories) + (" or empty" if self.nullable else "")
        if self.low is not None and self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        if self.low is not None:
            return f">= {self.low:g}"
        return {"string": "unique text", "bool": "true / false"}.get(self.kind, "")


_BOOL, _COUNT, _AMOUNT, _SHARE = (
    ColumnRule("bool"),
    ColumnRule("int", 0),
    ColumnRule("float", 0),
    ColumnRule("float", 0, 1),
)

# Every column of the data contract, in the generator's order. latent_segment's upper bound
# (n_segments - 1) comes from the knobs; the cross-column rules are in `validate_customers`.
SCHEMA: dict[str, ColumnRule] = {
    "customer_id": ColumnRule("string"),
    "age": ColumnRule("int", 18, 120),
    "age_band": ColumnRule("category", categories=AGE_BANDS),
    "older": _BOOL,
    "gender": ColumnRule("category", categories=GENDERS),
    "postcode_area": ColumnRule("category", categories=POSTCODE_AREAS),
    "income_band": ColumnRule("category", categories=INCOME_BANDS),
    "recency_days": _COUNT,
    "frequency": _COUNT,
    "monetary": _AMOUNT,
    "tenure_months": _COUNT,
    "channel": ColumnRule("category", categories=CHANNELS),
    **{f"aff_{c}": _SHARE for c in CATEGORIES},
    "engagement": _SHARE,
    "contacts_90d": _COUNT,
    "marketing_consent": _BOOL,
    "profiling_consent": _BOOL,
    "in_campaign": _BOOL,
    "hist_action": ColumnRule("category", categories=ACTIONS, nullable=True),
    "hist_response": _BOOL,
    "hist_value": _AMOUNT,
    "latent_segment": ColumnRule("int", 0),
    **{f"p_{a}": _SHARE for a in ACTIONS},
    **{f"v_{a}": _AMOUNT for a in ACTIONS},
    "hist_true_response": _BOOL,
}
AFFINITY_COLUMNS: tuple[str, ...] = tuple(f"aff_{c}" for c in CATEGORIES)
AFFINITY_TOLERANCE = 1e-3  # each share is rounded to 4 decimals, so sums stray by at most 2e-4

# Error messages (tested word for word). Column problems start with the column's name; problems
# of the file as a whole start with its path.
MSG_MISSING_COLUMNS = "{columns}: missing (every column of the data contract is required)"
MSG_UNKNOWN_COLUMNS = "{columns}: not in the data contract"
MSG_NULLS = "{column}: missing values ({rows})"
MSG_DTYPE = "{column}: dtype {dtype}, expected {expected}"
MSG_CATEGORIES = "{column}: categories {actual}, expected {expected}"
MSG_OUTSIDE = "{column}: values outside [{low:g}, {high:g}] ({rows})"
MSG_NEGATIVE = "{column}: values below {low:g} ({rows})"
MSG_NOT_FINITE = "{column}: infinite values ({rows})"
MSG_DUPLICATE_IDS = "customer_id: duplicated ids ({rows})"
MSG_AFFINITY_SUM = "{columns}: affinities do not sum to 1 within {tol:g} ({rows})"
MSG_AGE_MISMATCH = "{column}: disagrees with age ({rows})"
MSG_CAMPAIGN_NULL = "hist_action: missing for campaign customers ({rows})"
MSG_OUTSIDE_CAMPAIGN = "{column}: set for customers outside the campaign ({rows})"
MSG_RECORDED_NOT_TRUE = "hist_response: recorded where the true response was no purchase ({rows})"
MSG_VALUE_WITHOUT_RESPONSE = "hist_value: non-zero without a recorded response ({rows})"
MSG_UNREADABLE = "{path}: not a readable parquet file ({reason})"
MSG_NO_METADATA = (
    "{path}: no crmkit population metadata (knobs and fingerprint); "
    "write populations with save_population or `crmkit population`"
)
MSG_BAD_METADATA = "{path}: unreadable crmkit population metadata ({reason})"
MSG_BAD_KNOB = "{path}: knob {reason}"
MSG_ROW_COUNT = "{path}: holds {rows} customers, but its knobs say n_customers={n}"
MSG_FINGERPRINT = (
    "{path}: content does not match the fingerprint saved with it (saved {saved}..., "
    "computed {computed}...); the file was changed after it was written"
)


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


class PopulationSchemaError(ValueError):
    """A population breaks the data contract.

    ``problems`` lists every problem found, each starting with the column (or the file) it
    concerns; the message is those lines. ``path`` is the file, when one was loaded.
    """

    def __init__(self, problems: list[str], path: str | Path | None = None):
        self.problems = list(problems)
        self.path = None if path is None else Path(path)
        super().__init__("\n".join(self.problems))


def validate_customers(customers: pd.DataFrame, knobs: dict | None = None) -> None:
    """Check a customer table against the data contract; raise `PopulationSchemaError` listing
    every problem (a missing or unknown column, a wrong dtype or category set, an impossible value,
    columns that contradict each other). With `knobs`, latent segments must be below n_segments.
    """
    problems: list[str] = []
    missing = [c for c in SCHEMA if c not in customers.columns]
    if missing:
        problems.append(MSG_MISSING_COLUMNS.format(columns=", ".join(missing)))
    unknown = [str(c) for c in customers.columns if c not in SCHEMA]
    if unknown:
        problems.append(MSG_UNKNOWN_COLUMNS.format(columns=", ".join(unknown)))
    rules = dict(SCHEMA)
    if knobs is not None and "n_segments" in knobs:
        rules["latent_segment"] = ColumnRule("int", 0, knobs["n_segments"] - 1)
    valid = set()  # columns that passed their own checks: the cross-column rules may read them
    for name, rule in rules.items():
        if name in customers.columns:
            found = _column_problems(name, customers[name], rule)
            problems += found
            if not found:
                valid.add(name)
    problems += _cross_column_problems(customers, valid)
    if problems:
        raise PopulationSchemaError(problems)


def _column_problems(name: str, s: pd.Series, rule: ColumnRule) -> list[str]:
    """The problems of one column on its own: nulls, dtype, categories, range."""
    if not rule.nullable:
        n_null = int(s.isna().sum())
        if n_null:
            return [MSG_NULLS.format(column=name, rows=_rows(n_null))]
    dtype = s.dtype
    is_cat = isinstance(dtype, pd.CategoricalDtype)
    ok = {
        "string": not is_cat and pd.api.types.is_string_dtype(s),  # the Series: object columns are inspected
        "bool": dtype == np.dtype(bool),
        "int": pd.api.types.is_integer_dtype(dtype) and not is_cat,
        "float": pd.api.types.is_float_dtype(dtype) and not is_cat,
        "category": is_cat,
    }[rule.kind]
    if not ok:
        return [MSG_DTYPE.format(column=name, dtype=dtype, expected=rule.expected_dtype())]
    if rule.kind == "category":
        actual = tuple(str(c) for c in dtype.categories)
        if actual != rule.categories:
            return [MSG_CATEGORIES.format(column=name, actual=", ".join(actual), expected=", ".join(rule.categories))]
        return []
    if rule.low is None:
        return []
    v = s.to_numpy()
    if rule.high is not None:
        bad = ~((v >= rule.low) & (v <= rule.high))
        n_bad = int(bad.sum())
        return [MSG_OUTSIDE.format(column=name, low=rule.low, high=rule.high, rows=_rows(n_bad))] if n_bad else []
    n_low = int((v < rule.low).sum())
    if n_low:
        return [MSG_NEGATIVE.format(column=name, low=rule.low, rows=_rows(n_low))]
    if rule.kind == "float":
        n_inf = int((~np.isfinite(v)).sum())
        if n_inf:
            return [MSG_NOT_FINITE.format(column=name, rows=_rows(n_inf))]
    return []


def _cross_column_problems(c: pd.DataFrame, valid: set) -> list[str]:
    """Rules that tie columns together; each runs only if its columns passed their own checks."""
    out = []
    if "customer_id" in valid:
        n_dup = int(c["customer_id"].duplicated().sum())
        if n_dup:
            out.append(MSG_DUPLICATE_IDS.format(rows=_rows(n_dup)))
    if "age" in valid:
        age = c["age"].to_numpy()
        if "older" in valid:
            n = int(((age >= OLDER_AGE) != c["older"].to_numpy()).sum())
            if n:
                out.append(MSG_AGE_MISMATCH.format(column="older", rows=_rows(n)))
        if "age_band" in valid:
            band = np.searchsorted(AGE_BAND_EDGES, age, side="right") - 1
            n = int((band != c["age_band"].cat.codes.to_numpy()).sum())
            if n:
                out.append(MSG_AGE_MISMATCH.format(column="age_band", rows=_rows(n)))
    if set(AFFINITY_COLUMNS) <= valid:
        total = sum(c[a].to_numpy() for a in AFFINITY_COLUMNS)
        n = int((np.abs(total - 1.0) > AFFINITY_TOLERANCE).sum())
        if n:
            out.append(
                MSG_AFFINITY_SUM.format(columns=", ".join(AFFINITY_COLUMNS), tol=AFFINITY_TOLERANCE, rows=_rows(n))
            )
    if "in_campaign" in valid:
        out += _campaign_problems(c, valid, c["in_campaign"].to_numpy())
    return out


def _campaign_problems(c: pd.DataFrame, valid: set, camp: np.ndarray) -> list[str]:
    """The campaign log: actions and responses only for campaign customers; label bias only drops."""
    out = []
    if "hist_action" in valid:
        null = c["hist_action"].isna().to_numpy()
        if n := int((null & camp).sum()):
            out.append(MSG_CAMPAIGN_NULL.format(rows=_rows(n)))
        if n := int((~null & ~camp).sum()):
            out.append(MSG_OUTSIDE_CAMPAIGN.format(column="hist_action", rows=_rows(n)))
    for col in ("hist_response", "hist_true_response", "hist_value"):
        if col in valid and (n := int(((c[col].to_numpy() != 0) & ~camp).sum())):
            out.append(MSG_OUTSIDE_CAMPAIGN.format(column=col, rows=_rows(n)))
    if {"hist_response", "hist_true_response"} <= valid:
        if n := int((c["hist_response"].to_numpy() & ~c["hist_true_response"].to_numpy()).sum()):
            out.append(MSG_RECORDED_NOT_TRUE.format(rows=_rows(n)))
    if {"hist_response", "hist_value"} <= valid:
        if n := int(((c["hist_value"].to_numpy() != 0) & ~c["hist_response"].to_numpy()).sum()):
            out.append(MSG_VALUE_WITHOUT_RESPONSE.format(rows=_rows(n)))
    return out

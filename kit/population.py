"""The synthetic CRM population: customers, their protected attributes and the truth about them.

`make_population` works like scikit-learn's ``make_classification``: keyword knobs, a
``random_state``, and the ground truth returned with the data. Every random draw comes from a
child of one ``numpy.random.SeedSequence``, one child per stage, so the same knobs and seed give
the same table bit for bit, and changing how one stage draws does not shift the others.

What the firm holds (demographics, behaviour, consent, the historical campaign log) and what only
the generator knows (``latent_segment``, ``p_<action>``, ``v_<action>``, the true response of the
campaign) live in one table; `FIRM_COLUMNS` and `TRUTH_COLUMNS` say which is which, and the
segmenters only ever receive the firm's columns.

`SCHEMA` is the data contract (dtype, range or categories of every column); `save_population`
writes parquet with the knobs and fingerprint in the file's metadata, and `load_population` gives a
population back only if it passes `validate_customers` and still matches its fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# --- The action catalogue -------------------------------------------------------------------
# Contact cost per customer contacted; "none" is the no-contact action, free and always allowed.
ACTIONS: tuple[str, ...] = ("none", "discount", "loyalty", "new_product")
ACTION_COST: dict[str, float] = {"none": 0.0, "discount": 2.0, "loyalty": 1.0, "new_product": 0.5}

AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
AGE_BAND_EDGES = (18, 25, 35, 45, 55, 65, 75, 200)
GENDERS: tuple[str, ...] = ("female", "male")
INCOME_BANDS: tuple[str, ...] = ("low", "lower-middle", "middle", "upper-middle", "high")
CHANNELS: tuple[str, ...] = ("email", "web", "store", "phone")
CATEGORIES: tuple[str, ...] = ("grocery", "fashion", "electronics", "home")
N_POSTCODE_AREAS = 24
POSTCODE_AREAS: tuple[str, ...] = tuple(f"PA{i:02d}" for i in range(N_POSTCODE_AREAS))
OLDER_AGE = 65

PROTECTED = ("age", "age_band", "older", "gender")
QUASI_IDENTIFIERS = ("age_band", "gender", "postcode_area", "income_band")
BEHAVIOUR = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_months",
    "channel",
    *(f"aff_{c}" for c in CATEGORIES),
    "engagement",
    "contacts_90d",
)
CONSENT = ("marketing_consent", "profiling_consent")
CAMPAIGN = ("in_campaign", "hist_action", "hist_response", "hist_value")
TRUTH_COLUMNS = (
    "latent_segment",
    *(f"p_{a}" for a in ACTIONS),
    *(f"v_{a}" for a in ACTIONS),
    "hist_true_response",
)
FIRM_COLUMNS = ("customer_id", *PROTECTED, "postcode_area", "income_band", *BEHAVIOUR, *CONSENT, *CAMPAIGN)

# Documented knob ranges: (low, high, low inclusive, high inclusive).
KNOB_RANGES: dict[str, tuple[float, float]] = {
    "n_customers": (1_000, 10_000_000),
    "n_segments": (2, 20),
    "proxy_strength": (0.0, 1.0),
    "label_bias": (0.0, 1.0),
    "consent_rate": (0.0, 1.0),
    "older_share": (0.01, 0.99),
    "older_fatigue": (0.0, 2.0),
    "history_share": (0.05, 0.95),
}


@dataclass(frozen=True)
class Population:
    """A generated population: the customer table and the knobs that made it."""

    customers: pd.DataFrame
    knobs: dict

    @property
    def history(self) -> pd.DataFrame:
        """Customers of the historical randomised campaign: the only response data approaches see."""
        return self.customers[self.customers["in_campaign"].to_numpy()]

    @property
    def holdout(self) -> pd.DataFrame:
        """Customers outside the campaign: every measurement is computed on them."""
        return self.customers[~self.customers["in_campaign"].to_numpy()]

    def fingerprint(self) -> str:
        """sha256 of the table's content, so a result can name exactly the data it came from."""
        return fingerprint(self.customers)


def fingerprint(df: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and a per-row hash of every value (order-sensitive)."""
    h = hashlib.sha256()
    h.update(repr([(c, str(df[c].dtype)) for c in df.columns]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _check_knob(name: str, value: float) -> None:
    lo, hi = KNOB_RANGES[name]
    if not (lo <= value <= hi):
        raise ValueError(f"{name}={value!r} is out of range; allowed: {lo} to {hi}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_population(
    n_customers: int = 20_000,
    *,
    n_segments: int = 6,
    proxy_strength: float = 0.5,
    label_bias: float = 0.0,
    consent_rate: float = 0.7,
    older_share: float = 0.25,
    older_fatigue: float = 0.3,
    history_share: float = 0.5,
    random_state: int = 0,
) -> Population:
    """Generate a CRM population with known response truth.

    Parameters (ranges in `KNOB_RANGES`):
    - n_customers: rows.
    - n_segments: latent behavioural segments; each has its own best action.
    - proxy_strength: 0 = behaviour is independent of age and gender; 1 = behaviour reveals them
      (segment membership leans by group and features shift with group).
    - label_bias: share of older customers' campaign responses that were not recorded, so
      estimates learned from the log under-rate older customers.
    - consent_rate: probability of profiling consent (marketing consent is 0.9, independently).
    - older_share: share of customers aged 65+.
    - older_fatigue: how much each contact in the last 90 days lowers an older customer's
      response (on the logit scale, per contact). 0 = no fatigue.
    - history_share: share of customers in the historical randomised campaign; the rest are
      the held-out set.
    - random_state: the one seed every draw flows from.
    """
    if not isinstance(n_customers, (int, np.integer)) or isinstance(n_customers, bool):
        raise TypeError(f"n_customers must be an integer, got {type(n_customers).__name__}")
    if not isinstance(n_segments, (int, np.integer)) or isinstance(n_segments, bool):
        raise TypeError(f"n_segments must be an integer, got {type(n_segments).__name__}")
    knobs = dict(
        n_customers=int(n_customers),
        n_segments=int(n_segments),
        proxy_strength=float(proxy_strength),
        label_bias=float(label_bias),
        consent_rate=float(consent_rate),
        older_share=float(older_share),
        older_fatigue=float(older_fatigue),
        history_share=float(history_share),
    )
    for name, value in knobs.items():
        _check_knob(name, value)
    knobs["random_state"] = int(random_state)

    n = knobs["n_customers"]
    k = knobs["n_segments"]
    s = knobs["proxy_strength"]
    stages = np.random.SeedSequence(int(random_state)).spawn(8)
    rng_demo, rng_world, rng_seg, rng_beh, rng_consent, rng_truth, rng_camp, rng_id = (
        np.random.default_rng(c) for c in stages
    )

    # 1. Demographics (protected attributes and quasi-identifiers).
    older = rng_demo.random(n) < knobs["older_share"]
    age = np.where(
        older,
        OLDER_AGE + np.floor(rng_demo.gamma(2.0, 5.0, n)).clip(0, 34),
        18 + np.floor(rng_demo.random(n) * (OLDER_AGE - 18)),
    ).astype(np.int16)
    male = rng_demo.random(n) < 0.5
    postcode = rng_demo.integers(0, N_POSTCODE_AREAS, n)
    income = rng_demo.integers(0, len(INCOME_BANDS), n)

    # 2. The world's structure: per-segment behaviour, per-segment action effects, group leans.
    world = _make_world(rng_world, k)

    # 3. Latent segment: leans towards group-typical segments as proxy_strength rises.
    g_older = np.where(older, 1.0, -1.0)
    g_male = np.where(male, 1.0, -1.0)
    logits = (
        np.log(world["seg_weight"])[None, :]
        + s * 1.5 * (g_older[:, None] * world["lean_older"][None, :] + g_male[:, None] * world["lean_male"][None, :])
    )
    segment = _categorical(rng_seg, logits)

    # 4. Behaviour: segment profile + a direct group shift scaled by proxy_strength + noise.
    beh = _draw_behaviour(rng_beh, world, segment, s * g_older, s * g_male)

    # 5. Consent, independent of everything else.
    profiling_consent = rng_consent.random(n) < knobs["consent_rate"]
    marketing_consent = rng_consent.random(n) < 0.9

    # 6. Truth: response probability and value per action.
    truth = _draw_truth(rng_truth, world, segment, beh, older, knobs["older_fatigue"])

    # 7. Historical randomised campaign, with label bias on what was recorded.
    in_campaign = rng_camp.random(n) < knobs["history_share"]
    hist_action = rng_camp.integers(0, len(ACTIONS), n)
    p_taken = np.stack([truth[f"p_{a}"] for a in ACTIONS], axis=1)[np.arange(n), hist_action]
    true_resp = rng_camp.random(n) < p_taken
    v_taken = np.stack([truth[f"v_{a}"] for a in ACTIONS], axis=1)[np.arange(n), hist_action]
    lost = older & (rng_camp.random(n) < knobs["label_bias"])
    recorded = true_resp & ~lost

    # 8. Opaque ids: a seeded permutation of a wide range, so ids carry no order information.
    ids = rng_id.choice(np.iinfo(np.int32).max, size=n, replace=False)

    action_cat = pd.CategoricalDtype(list(ACTIONS))
    # copy=False: keep each column its own block instead of stacking same-dtype columns into 2-D
    # blocks (a full copy of the table); the values, and so the fingerprint, are the same.
    df = pd.DataFrame(
        {
            "customer_id": _customer_ids(ids),
            "age": age,
            "age_band": pd.Categorical.from_codes(
                np.searchsorted(AGE_BAND_EDGES, age, side="right") - 1, categories=list(AGE_BANDS)
            ),
            "older": older,
            "gender": pd.Categorical.from_codes(male.astype(np.int8), categories=list(GENDERS)),
            "postcode_area": pd.Categorical.from_codes(
                postcode, categories=list(POSTCODE_AREAS)
            ),
            "income_band": pd.Categorical.from_codes(income, categories=list(INCOME_BANDS)),
            **beh,
            "marketing_consent": marketing_consent,
            "profiling_consent": profiling_consent,
            "in_campaign": in_campaign,
            "hist_action": pd.Categorical.from_codes(np.where(in_campaign, hist_action, -1), dtype=action_cat),
            "hist_response": np.where(in_campaign, recorded, False),
            # Revenue the firm booked from a recorded response (it sees the purchase, not p or v).
            "hist_value": np.where(in_campaign & recorded, v_taken, 0.0),
            "latent_segment": segment.astype(np.int16),
            **truth,
            "hist_true_response": np.where(in_campaign, true_resp, False),
        },
        copy=False,
    )
    return Population(customers=df, knobs=knobs)


ID_DIGITS = 10  # ids are below 2**31, so ten decimal digits always suffice


def _customer_ids(ids: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``"C"`` + the id as ten zero-padded digits, as pandas' string dtype, without Python strings.

    Same values as ``[f"C{i:010d}" for i in ids]`` but built in numpy: the digits are written into
    an (n, 11) byte matrix and handed to Arrow as one buffer (a million f-strings cost ~0.4 s).
    """
    n = len(ids)
    width = 1 + ID_DIGITS
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, 0] = ord("C")
    q = ids.astype(np.uint32)
    for j in range(ID_DIGITS, 0, -1):
        q, r = np.divmod(q, np.uint32(10))
        chars[:, j] = r
    chars[:, 1:] += ord("0")
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    arrow = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))
    return pd.array(arrow, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row from unnormalised log-probabilities (vectorised)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(p)) * cdf[:, -1]
    return (cdf < u[:, None]).sum(axis=1)


def _make_world(rng: np.random.Generator, k: int) -> dict:
    """Draw the hidden structure: what each latent segment looks like and responds to."""
    n_act = len(ACTIONS)
    # Each contact action is the best one for some segments: a segment's favourite action gets a
    # strong uplift, the others a weak one; a few segments respond to nothing (best left alone).
    favourite = rng.permutation(np.resize(np.arange(1, n_act + 1), k))  # n_act means "leave alone"
    uplift = rng.uniform(0.0, 0.4, (k, n_act))
    uplift[:, 0] = 0.0
    for j, fav in enumerate(favourite):
        if fav < n_act:
            uplift[j, fav] = rng.uniform(1.3, 2.0)
        else:
            uplift[j, 1:] = rng.uniform(-0.6, -0.2, n_act - 1)
    return {
        "seg_weight": rng.dirichlet(np.full(k, 8.0)),
        "lean_older": rng.normal(0.0, 1.0, k),
        "lean_male": rng.normal(0.0, 1.0, k),
        "recency_scale": rng.uniform(10, 120, k),
        "freq_rate": rng.uniform(1, 15, k),
        "monetary_mu": rng.uniform(3.0, 5.5, k),
        "tenure_mean": rng.uniform(6, 96, k),
        "channel_logits": rng.normal(0.0, 1.0, (k, len(CHANNELS))),
        "affinity_conc": rng.gamma(2.0, 1.5, (k, len(CATEGORIES))),
        "engagement_ab": rng.uniform(1, 6, (k, 2)),
        "contacts_rate": rng.uniform(0.5, 4.0, k),
        "base_logit": rng.uniform(-3.0, -1.5, k),
        "uplift": uplift,
        # Value of a purchase scales with spend; discount gives margin away, loyalty a little.
        "value_mult": np.array([1.0, 0.75, 0.9, 1.1]),
    }


def _draw_behaviour(
    rng: np.random.Generator, world: dict, seg: np.ndarray, shift_older: np.ndarray, shift_male: np.ndarray
) -> dict:
    """Behaviour columns: the segment's profile, shifted by group (scaled by proxy strength)."""
    n = len(seg)
    recency = rng.exponential(world["recency_scale"][seg] * np.exp(0.2 * shift_older))
    freq = rng.poisson(world["freq_rate"][seg] * np.exp(-0.15 * shift_older + 0.1 * shift_male))
    monetary = np.exp(rng.normal(world["monetary_mu"][seg] + 0.12 * shift_older - 0.08 * shift_male, 0.5))
    tenure = rng.gamma(2.0, world["tenure_mean"][seg] * np.exp(0.2 * shift_older) / 2.0)
    ch_logits = world["channel_logits"][seg] + np.outer(shift_older, [-0.4, -0.3, 0.3, 0.45])
    channel = _categorical(rng, ch_logits)
    conc = world["affinity_conc"][seg] * np.exp(np.outer(shift_male, [-0.25, -0.3, 0.35, 0.05]))
    aff = rng.gamma(conc)
    aff = aff / aff.sum(axis=1, keepdims=True)
    a, b = world["engagement_ab"][seg].T
    engagement = rng.beta(a * np.exp(-0.15 * shift_older), b)
    contacts = rng.poisson(world["contacts_rate"][seg])
    out = {
        "recency_days": np.round(recency).astype(np.int32),
        "frequency": freq.astype(np.int32),
        "monetary": np.round(monetary, 2),
        "tenure_months": np.round(tenure).astype(np.int32),
        "channel": pd.Categorical.from_codes(channel, categories=list(CHANNELS)),
    }
    for j, c in enumerate(CATEGORIES):
        out[f"aff_{c}"] = np.round(aff[:, j], 4)
    out["engagement"] = np.round(engagement, 4)
    out["contacts_90d"] = contacts.astype(np.int32)
    assert len(out["contacts_90d"]) == n
    return out


def _draw_truth(
    rng: np.random.Generator, world: dict, seg: np.ndarray, beh: dict, older: np.ndarray, fatigue: float
) -> dict:
    """True response probability and value per action for each customer.

    logit p[i, a] = segment base + segment uplift for a + individual noise (so the oracle beats
    any segmentation) + engagement effect - fatigue (older customers, contact actions only).
    """
    n = len(seg)
    base = world["base_logit"][seg] + 1.5 * (beh["engagement"] - 0.5)
    indiv = rng.normal(0.0, 0.5, (n, len(ACTIONS)))
    indiv[:, 0] = 0.0
    fatigue_pen = fatigue * beh["contacts_90d"] * older
    spend = beh["monetary"]
    out = {}
    for j, a in enumerate(ACTIONS):
        logit = base + world["uplift"][seg, j] + indiv[:, j]
        if a != "none":
            logit = logit - fatigue_pen
        out[f"p_{a}"] = _sigmoid(logit)
    for j, a in enumerate(ACTIONS):
        out[f"v_{a}"] = np.round(spend * world["value_mult"][j], 2)
    return out


def true_net_values(customers: pd.DataFrame) -> np.ndarray:
    """Expected net value of each action for each customer under the truth: p * v - cost."""
    return np.stack(
        [
            customers[f"p_{a}"].to_numpy() * customers[f"v_{a}"].to_numpy() - ACTION_COST[a]
            for a in ACTIONS
        ],
        axis=1,
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
        return {"string": "a string dtype", "bool": "bool", "int": "an integer dtype",
                "float": "a float dtype", "category": "category"}[self.kind]

    def allowed(self) -> str:
        """Plain-language allowed values, for the datasheet."""
        if self.categories is not None:
            return ", ".join(self.categories) + (" or empty" if self.nullable else "")
        if self.low is not None and self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        if self.low is not None:
            return f">= {self.low:g}"
        return {"string": "unique text", "bool": "true / false"}.get(self.kind, "")


_BOOL, _COUNT, _AMOUNT, _SHARE = ColumnRule("bool"), ColumnRule("int", 0), ColumnRule("float", 0), ColumnRule("float", 0, 1)

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
MSG_NO_METADATA = ("{path}: no crmkit population metadata (knobs and fingerprint); "
                   "write populations with save_population or `crmkit population`")
MSG_BAD_METADATA = "{path}: unreadable crmkit population metadata ({reason})"
MSG_BAD_KNOB = "{path}: knob {reason}"
MSG_ROW_COUNT = "{path}: holds {rows} customers, but its knobs say n_customers={n}"
MSG_FINGERPRINT = ("{path}: content does not match the fingerprint saved with it (saved {saved}..., "
                   "computed {computed}...); the file was changed after it was written")

METADATA_KEY = b"crmkit.population"
METADATA_FORMAT = 1
KNOB_NAMES: tuple[str, ...] = (*KNOB_RANGES, "random_state")


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
            out.append(MSG_AFFINITY_SUM.format(columns=", ".join(AFFINITY_COLUMNS), tol=AFFINITY_TOLERANCE, rows=_rows(n)))
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


# --- Saving and loading --------------------------------------------------------------------------

def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder, then rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name beside the target (same filesystem, so the rename is atomic); created
    # by the writer itself, so it gets the usual permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_population(pop: Population, path: str | Path) -> Path:
    """Write the population as parquet, with its knobs and fingerprint in the file's metadata.

    The metadata lets `load_population` give the table back its knobs and check that not a value
    changed since it was written.
    """
    path = Path(path)
    table = pa.Table.from_pandas(pop.customers, preserve_index=False)
    meta = {"format": METADATA_FORMAT, "knobs": pop.knobs, "fingerprint": pop.fingerprint()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()})
    return _atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def load_population(path: str | Path) -> Population:
    """Read a population written by `save_population` and check it against the data contract.

    Raises `PopulationSchemaError` when the file is not readable parquet, has no (or broken)
    knobs metadata, breaks the schema (the message names each column and what is wrong), or no
    longer matches the fingerprint saved with it. A missing file raises FileNotFoundError.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        metadata = pq.read_schema(path).metadata or {}
        customers = pd.read_parquet(path)
    except (pa.ArrowException, OSError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PopulationSchemaError([MSG_UNREADABLE.format(path=path, reason=reason)], path) from e
    meta = _read_metadata(path, metadata)
    knobs = meta["knobs"]
    try:
        validate_customers(customers, knobs)
    except PopulationSchemaError as e:
        raise PopulationSchemaError(e.problems, path) from None
    if len(customers) != knobs["n_customers"]:
        raise PopulationSchemaError([MSG_ROW_COUNT.format(path=path, rows=len(customers), n=knobs["n_customers"])], path)
    pop = Population(customers=customers, knobs=knobs)
    computed = pop.fingerprint()
    if computed != meta["fingerprint"]:
        raise PopulationSchemaError(
            [MSG_FINGERPRINT.format(path=path, saved=meta["fingerprint"][:12], computed=computed[:12])], path)
    return pop


def _read_metadata(path: Path, metadata: dict) -> dict:
    """The knobs and fingerprint saved in the file, with every knob checked against its range."""
    if METADATA_KEY not in metadata:
        raise PopulationSchemaError([MSG_NO_METADATA.format(path=path)], path)
    try:
        meta = json.loads(metadata[METADATA_KEY])
        knobs, fp = meta["knobs"], meta["fingerprint"]
        if not isinstance(knobs, dict) or not isinstance(fp, str):
            raise TypeError("knobs must be a mapping and fingerprint a string")
    except (ValueError, KeyError, TypeError) as e:
        raise PopulationSchemaError([MSG_BAD_METADATA.format(path=path, reason=f"{type(e).__name__}: {e}")], path) from None
    missing = [k for k in KNOB_NAMES if k not in knobs]
    unknown = [k for k in knobs if k not in KNOB_NAMES]
    reasons = [f"{k}: missing" for k in missing] + [f"{k}: unknown" for k in unknown]
    for name, value in knobs.items():
        if name in ("n_customers", "n_segments", "random_state"):
            if not isinstance(value, int) or isinstance(value, bool):
                reasons.append(f"{name}={value!r} is not an integer")
                continue
        elif name in KNOB_RANGES and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            reasons.append(f"{name}={value!r} is not a number")
            continue
        if name in KNOB_RANGES:
            try:
                _check_knob(name, value)
            except ValueError as e:
                reasons.append(str(e))
    if reasons:
        raise PopulationSchemaError([MSG_BAD_KNOB.format(path=path, reason=r) for r in reasons], path)
    return meta


# --- The datasheet --------------------------------------------------------------------------------

def group_marginals(customers: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Aggregates per group (never a customer row): size, consent, mean behaviour and truth, and
    the campaign's response rate as it truly was and as it was recorded (label bias shows as a gap).
    """
    c = customers
    camp = c["in_campaign"].to_numpy()
    work = pd.DataFrame({
        "customers": np.ones(len(c), dtype=np.int64),
        "profiling_consent": c["profiling_consent"].to_numpy(),
        "marketing_consent": c["marketing_consent"].to_numpy(),
        "mean_age": c["age"].to_numpy(),
        "mean_monetary": c["monetary"].to_numpy(),
        "mean_frequency": c["frequency"].to_numpy(),
        "mean_engagement": c["engagement"].to_numpy(),
        "mean_contacts_90d": c["contacts_90d"].to_numpy(),
        "campaign_response_true": np.where(camp, c["hist_true_response"].to_numpy(), np.nan),
        "campaign_response_recorded": np.where(camp, c["hist_response"].to_numpy(), np.nan),
    })
    keys = [by] if isinstance(by, str) else list(by)
    for k in keys:
        work[k] = c[k].to_numpy() if not isinstance(c[k].dtype, pd.CategoricalDtype) else c[k].array
    g = work.groupby(keys, observed=True, sort=True)
    out = g.mean()
    out["customers"] = g["customers"].sum()
    out.insert(1, "share", out["customers"] / len(c))
    return out.reset_index()


def age_counts(customers: pd.DataFrame) -> pd.DataFrame:
    """Customers per year of age and gender (an aggregate: age, gender, customers)."""
    return (customers.groupby(["age", "gender"], observed=True, sort=True).size()
            .rename("customers").reset_index())


def response_by_contacts(customers: pd.DataFrame, action: str = "discount", max_contacts: int = 8) -> pd.DataFrame:
    """Mean true response probability to `action` by contacts in the last 90 days, older vs not.

    Contact counts above `max_contacts` are pooled into `max_contacts` (few customers have more).
    With ``older_fatigue > 0`` the older customers' curve falls as contacts rise.
    """
    if action not in ACTIONS:
        raise ValueError(f"action: unknown {action!r}; expected one of {', '.join(ACTIONS)}")
    work = pd.DataFrame({
        "contacts_90d": np.minimum(customers["contacts_90d"].to_numpy(), max_contacts),
        "older": customers["older"].to_numpy(),
        "mean_p": customers[f"p_{action}"].to_numpy(),
    })
    g = work.groupby(["older", "contacts_90d"], sort=True)["mean_p"]
    return g.agg(mean_p="mean", customers="size").reset_index()


def _markdown_table(df: pd.DataFrame, digits: int = 3) -> list[str]:
    """A pipe table (no `tabulate` needed); floats rounded to `digits`."""
    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return lines


def datasheet_markdown(pop: Population, source: str | None = None) -> str:
    """The datasheet of a population: what it is, its knobs, its columns, and marginals by group."""
    c = pop.customers
    lines = ["# Population datasheet", ""]
    if source:
        lines += [f"File: `{source}`", ""]
    lines += [f"Customers: {len(c)} ({int(c['in_campaign'].sum())} in the historical campaign, "
              f"{int((~c['in_campaign']).sum())} held out); fingerprint (sha256): `{pop.fingerprint()}`", "",
              "Synthetic customers drawn by `kit.population.make_population`; columns marked TRUTH are known only "
              "to the generator. Everything below is aggregated; no customer row is shown.", "",
              "## Knobs", ""]
    lines += _markdown_table(pd.DataFrame({"knob": list(pop.knobs), "value": [str(v) for v in pop.knobs.values()]}))
    lines += ["", "## Columns", ""]
    cols = pd.DataFrame({"column": list(c.columns), "dtype": [str(c[k].dtype) for k in c.columns],
                         "allowed": [SCHEMA[k].allowed() if k in SCHEMA else "" for k in c.columns],
                         "meaning": [COLUMN_DOCS.get(k, "") for k in c.columns]})
    lines += _markdown_table(cols)
    for by, title in (("older", "older customers (65+)"), ("gender", "gender"), ("age_band", "age band"),
                      (["older", "gender"], "older x gender")):
        lines += ["", f"## Marginals by {title}", ""]
        lines += _markdown_table(group_marginals(c, by))
    return "\n".join(lines) + "\n"


def write_datasheet(pop: Population, path: str | Path, source: str | Path | None = None) -> Path:
    """Write the markdown datasheet (atomically) and return its path."""
    path = Path(path)
    text = datasheet_markdown(pop, None if source is None else str(source))
    return _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

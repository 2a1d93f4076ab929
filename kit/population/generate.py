"""The generator: `make_population` and the ground truth it returns with the data.


`make_population` works like scikit-learn's ``make_classification``: keyword knobs, a
``random_state``, and the ground truth returned with the data. Every random draw comes from a
child of one ``numpy.random.SeedSequence``, one child per stage, so the same knobs and seed give
the same table bit for bit, and changing how one stage draws does not shift the others.

What the firm holds (demographics, behaviour, consent, the historical campaign log) and what only
the generator knows (``latent_segment``, ``p_<action>``, ``v_<action>``, the true response of the
campaign) live in one table; `FIRM_COLUMNS` and `TRUTH_COLUMNS` say which is which, and the
segmenters only ever receive the firm's columns.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ..params import KNOB_RANGES
from ..vocabulary import (
    ACTION_COST,
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
from .fingerprint import fingerprint


@dataclass(frozen=True)
class Population:
    """A generated population: the customer table and the knobs that made it."""

    customers: pd.DataFrame
    knobs: dict

    @property
    def history(self) -> pd.DataFrame:
        """Customers of the historical randomised campaign: the only response data approaches see."""
        return self._split[0].copy(deep=False)

    @property
    def holdout(self) -> pd.DataFrame:
        """Customers outside the campaign: every measurement is computed on them."""
        return self._split[1].copy(deep=False)

    @functools.cached_property
    def _split(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The campaign and held-out customers, selected once: a run reads them a dozen times, and at
        10 million customers each selection copied 0.8 GB. `history` and `holdout` hand out shallow
        copies, so under pandas' copy-on-write a caller's changes stay its own."""
        mask = self.customers["in_campaign"].to_numpy()
        return self.customers[mask], self.customers[~mask]

    def fingerprint(self) -> str:
        """sha256 of the table's content, so a result can name exactly the data it came from."""
        return fingerprint(self.customers)


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
    # 8. Opaque ids: a seeded permutation of a wide range, so ids carry no order information. Their own
    # stream, so drawn beside the rest (numpy releases the GIL while it draws): 1.2 s at 10M customers.
    ids_job = ThreadPoolExecutor(max_workers=1)
    ids_future = ids_job.submit(rng_id.choice, np.iinfo(np.int32).max, size=n, replace=False)
    ids_job.shutdown(wait=False)  # the thread ends with its one draw, whatever happens below

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

    # 3. Latent segment: leans towards group-typical segments as proxy_strength rises. Four groups
    # (older or not x male or not), each with its own log-probabilities over the segments.
    g_older = np.array([-1.0, -1.0, 1.0, 1.0])
    g_male = np.array([-1.0, 1.0, -1.0, 1.0])
    segment_logits = np.log(world["seg_weight"])[None, :] + s * 1.5 * (
        g_older[:, None] * world["lean_older"][None, :] + g_male[:, None] * world["lean_male"][None, :]
    )
    segment = _categorical(rng_seg, 2 * older + male, segment_logits)

    # 4. Behaviour: segment profile + a direct group shift scaled by proxy_strength + noise.
    beh = _draw_behaviour(rng_beh, world, segment, older, male, s)

    # 5. Consent, independent of everything else.
    profiling_consent = rng_consent.random(n) < knobs["consent_rate"]
    marketing_consent = rng_consent.random(n) < 0.9

    # 6. Truth: response probability and value per action.
    truth = _draw_truth(rng_truth, world, segment, beh, older, knobs["older_fatigue"])

    # 7. Historical randomised campaign, with label bias on what was recorded.
    in_campaign = rng_camp.random(n) < knobs["history_share"]
    hist_action = rng_camp.integers(0, len(ACTIONS), n)
    # Each customer's value for the action they got (np.choose: the same values as stacking the
    # columns and indexing, without a (rows x actions) copy).
    p_taken = np.choose(hist_action, [truth[f"p_{a}"] for a in ACTIONS])
    true_resp = rng_camp.random(n) < p_taken
    v_taken = np.choose(hist_action, [truth[f"v_{a}"] for a in ACTIONS])
    lost = older & (rng_camp.random(n) < knobs["label_bias"])
    recorded = true_resp & ~lost

    ids = ids_future.result()

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
            "postcode_area": pd.Categorical.from_codes(postcode, categories=list(POSTCODE_AREAS)),
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


# Rows per block of the column-by-column steps (`_by_block`): their temporaries stay in cache instead of
# being allocated, at 10 million rows, as arrays the kernel must fault in page by page.
_BLOCK = 65_536


def _categorical(rng: np.random.Generator, groups: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row: row i draws category j with probability proportional to
    ``exp(logits[groups[i], j])``, by inverting the cumulative distribution at a uniform draw.

    Rows fall into a handful of groups (say older x gender), so the distribution is computed once per
    group instead of once per row: at 10 million customers the per-row version built (rows x
    categories) arrays and took 1.3 s for the segments. Each group's arithmetic is the one its rows
    had (the same operations on the same numbers), and counting the cumulative weights below the
    draw is `searchsorted` on a sorted row, so the draws are the same bit for bit."""
    u = rng.random(len(groups))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    out = np.empty(len(groups), dtype=np.int64)
    for g in range(len(logits)):
        rows = groups == g
        out[rows] = np.searchsorted(cdf[g], u[rows] * cdf[g, -1], side="left")
    return out


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


def _blocks(n: int) -> Iterator[slice]:
    """The rows 0..n-1 as consecutive slices of at most `_BLOCK` rows."""
    for start in range(0, n, _BLOCK):
        yield slice(start, min(start + _BLOCK, n))


def _by_block(n: int, dtype, values_of) -> np.ndarray:
    """A column of `n` values computed block by block, `values_of(rows)` giving those of a slice of
    rows. At 10 million customers each whole-column step (a segment lookup, a
    shift, an exponential, a rounding) allocated an 80 MB temporary that the kernel had to zero page by
    page; blocks stay in the cache. numpy draws an array of random values element after element, so
    consecutive blocks take the same draws from the stream as one call on the whole column, and every
    other step is per row: the values are the same bit for bit."""
    out = np.empty(n, dtype=dtype)
    for rows in _blocks(n):
        out[rows] = values_of(rows)
    return out


def _draw_behaviour(
    rng: np.random.Generator, world: dict, seg: np.ndarray, older: np.ndarray, male: np.ndarray, s: float
) -> dict:
    """Behaviour columns: the segment's profile, shifted by group (+s for older or male customers,
    -s for the others: s is the proxy strength).

    Each column is drawn whole from `rng` before the next one (block by block, `_by_block`)."""
    n = len(seg)
    shift_older = s * np.where(older, 1.0, -1.0)
    shift_male = s * np.where(male, 1.0, -1.0)

    def recency(r: slice) -> np.ndarray:
        return np.round(rng.exponential(world["recency_scale"][seg[r]] * np.exp(0.2 * shift_older[r])))

    def frequency(r: slice) -> np.ndarray:
        return rng.poisson(world["freq_rate"][seg[r]] * np.exp(-0.15 * shift_older[r] + 0.1 * shift_male[r]))

    def monetary(r: slice) -> np.ndarray:
        mu = world["monetary_mu"][seg[r]] + 0.12 * shift_older[r] - 0.08 * shift_male[r]
        return np.round(np.exp(rng.normal(mu, 0.5)), 2)

    def tenure(r: slice) -> np.ndarray:
        return np.round(rng.gamma(2.0, world["tenure_mean"][seg[r]] * np.exp(0.2 * shift_older[r]) / 2.0))

    # Channel: one distribution per segment and age group (row 2 * segment + older).
    k = len(world["channel_logits"])
    channel_logits = world["channel_logits"][np.repeat(np.arange(k), 2)] + np.outer(
        np.tile(s * np.array([-1.0, 1.0]), k), [-0.4, -0.3, 0.3, 0.45]
    )

    def engagement(r: slice) -> np.ndarray:
        a, b = world["engagement_ab"][seg[r]].T
        return np.round(rng.beta(a * np.exp(-0.15 * shift_older[r]), b), 4)

    out = {
        "recency_days": _by_block(n, np.int32, recency),
        "frequency": _by_block(n, np.int32, frequency),
        "monetary": _by_block(n, np.float64, monetary),
        "tenure_months": _by_block(n, np.int32, tenure),
        "channel": pd.Categorical.from_codes(
            _categorical(rng, 2 * seg + older, channel_logits), categories=list(CHANNELS)
        ),
    }
    out.update(_affinities(rng, world, seg, shift_male))
    out["engagement"] = _by_block(n, np.float64, engagement)
    out["contacts_90d"] = _by_block(n, np.int32, lambda r: rng.poisson(world["contacts_rate"][seg[r]]))
    return out


def _affinities(rng: np.random.Generator, world: dict, seg: np.ndarray, shift_male: np.ndarray) -> dict:
    """Category affinities (shares summing to 1, rounded to 4 places): a Dirichlet draw per customer,
    as gamma draws normalised by their row sum, concentrations from the segment, shifted by gender.

    Computed block by block, like `_by_block`: at 10 million customers the whole-table version
    allocated five (rows x 4) float arrays of 320 MB, and the kernel's zeroing of their fresh pages
    took 4 of the generator's 13 seconds. `rng.gamma` draws element after element in row order, so
    consecutive blocks take the same draws as one call on the whole table, and every other step is per
    row: the columns are the same bit for bit."""
    n = len(seg)
    out = {f"aff_{c}": np.empty(n) for c in CATEGORIES}
    shift = np.array([-0.25, -0.3, 0.35, 0.05])
    for rows in _blocks(n):
        conc = world["affinity_conc"][seg[rows]] * np.exp(np.outer(shift_male[rows], shift))
        aff = rng.gamma(conc)
        aff = aff / aff.sum(axis=1, keepdims=True)
        for j, c in enumerate(CATEGORIES):
            out[f"aff_{c}"][rows] = np.round(aff[:, j], 4)
    return out


def _draw_truth(
    rng: np.random.Generator, world: dict, seg: np.ndarray, beh: dict, older: np.ndarray, fatigue: float
) -> dict:
    """True response probability and value per action for each customer.

    logit p[i, a] = segment base + segment uplift for a + individual noise (so the oracle beats
    any segmentation) + engagement effect - fatigue (older customers, contact actions only).
    Computed block by block (`_by_block`); the noise is drawn as one (rows x actions) array in row
    order, so blocks take the same draws as one call on the whole table.
    """
    n = len(seg)
    n_act = len(ACTIONS)
    out = {f"p_{a}": np.empty(n) for a in ACTIONS}
    for rows in _blocks(n):
        s = seg[rows]
        base = world["base_logit"][s] + 1.5 * (beh["engagement"][rows] - 0.5)
        indiv = rng.normal(0.0, 0.5, (len(s), n_act))
        indiv[:, 0] = 0.0
        fatigue_pen = fatigue * beh["contacts_90d"][rows] * older[rows]
        for j, a in enumerate(ACTIONS):
            logit = base + world["uplift"][s, j] + indiv[:, j]
            if a != "none":
                logit = logit - fatigue_pen
            out[f"p_{a}"][rows] = _sigmoid(logit)
    spend = beh["monetary"]
    for j, a in enumerate(ACTIONS):
        out[f"v_{a}"] = _by_block(n, np.float64, lambda r, j=j: np.round(spend[r] * world["value_mult"][j], 2))
    return out


def true_net_values(customers: pd.DataFrame) -> np.ndarray:
    """Expected net value of each action for each customer under the truth: p * v - cost."""
    return np.stack(
        [customers[f"p_{a}"].to_numpy() * customers[f"v_{a}"].to_numpy() - ACTION_COST[a] for a in ACTIONS],
        axis=1,
    )

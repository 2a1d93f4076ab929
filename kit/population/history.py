"""Dated purchases behind the RFM columns, and what a retention window leaves of them.

The generator summarises each customer's purchases as recency (days since the last purchase),
frequency (purchases in the last 365 days), monetary value (average spend per purchase) and tenure
(months as a customer). `purchase_days` dates those purchases: the last one `recency_days` ago, the
year's others spread uniformly between it and a year ago (seeded). A firm that keeps purchase data
only for `retention_days` (GDPR art. 5(1)(e), storage limitation) knows only what falls inside the
window, so `retained_behaviour` recomputes the RFM columns from the dated purchases it still holds:

- recency: the last purchase's age if it is inside the window, else the window's length (all the
  firm can say is "not within the window");
- frequency: purchases inside the window (a 90-day window sees about a quarter of a year's);
- monetary: unchanged when a purchase remains (spend per purchase is taken as stable), else
  unknown, filled with the median of the customers it is known for (the usual imputation; a 0
  would make every such customer an outlier of its own).

Tenure is account data (the date the customer joined), kept while the account exists; channel,
category affinities and engagement are profile attributes without dates; the contact log
(`contacts_90d`) is kept for the older customers' contact cap. A window leaves them as they are. Without a window (0) the columns are returned unchanged, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

YEAR = 365


def purchase_days(customers: pd.DataFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Every dated purchase of the last year, and the last purchase even when older: (owner row
    position, days ago) as two flat arrays, the last purchase of each customer first."""
    r = customers["recency_days"].to_numpy(dtype=np.int64)
    f = customers["frequency"].to_numpy(dtype=np.int64)
    n = len(r)
    # Purchases besides the last one inside the year: f - 1 when the last one is inside it, else f.
    # The generator draws recency and frequency apart, so a few percent of rows contradict each other (a
    # last purchase over a year ago, yet purchases in the year): their f purchases are dated within
    # the year all the same, and recency keeps its own value.
    others = np.where(r <= YEAR, np.maximum(f - 1, 0), f)
    owner = np.repeat(np.arange(n), others)
    low = np.repeat(np.where(r <= YEAR, r, 0), others)
    days = low + np.floor(rng.random(len(owner)) * (YEAR - low + 1)).astype(np.int64)
    return np.concatenate([np.arange(n), owner]), np.concatenate([r, days])


def retained_behaviour(customers: pd.DataFrame, retention_days: int, rng: np.random.Generator) -> pd.DataFrame:
    """The customer table with its RFM columns as a firm keeping `retention_days` of
    purchase data knows them (see the module docstring); 0 keeps everything."""
    if retention_days <= 0:
        return customers
    owner, days = purchase_days(customers, rng)
    w = int(retention_days)
    kept = days <= w
    n = len(customers)
    r = customers["recency_days"].to_numpy()
    inside = np.bincount(owner[kept], minlength=n)
    last_inside = r <= w
    # Frequency counts the last year only: the last purchase counts when it is within the year.
    in_year = kept & (days <= YEAR)
    freq = np.bincount(owner[in_year], minlength=n)
    monetary = customers["monetary"].to_numpy()
    return customers.assign(
        recency_days=np.where(last_inside, r, w).astype(customers["recency_days"].dtype),
        frequency=np.minimum(freq, customers["frequency"].to_numpy()).astype(customers["frequency"].dtype),
        monetary=np.where(inside > 0, monetary, np.median(monetary[inside > 0]) if (inside > 0).any() else 0.0),
    )

"""Tables the experiment notebook shows: aggregates only, never a customer row."""

from __future__ import annotations

import pandas as pd

from ..population import Population
from ..segmenters import Segmenter


def population_summary(population: Population) -> pd.DataFrame:
    """Group sizes and rates of the campaign and held-out sets: no customer rows."""
    c = population.customers
    rows = []
    for name, part in (("campaign", population.history), ("held-out", population.holdout), ("all", c)):
        rows.append(
            {
                "set": name,
                "customers": len(part),
                "older (65+) share": part["older"].mean(),
                "female share": (part["gender"] == "female").mean(),
                "profiling consent": part["profiling_consent"].mean(),
                "marketing consent": part["marketing_consent"].mean(),
                "mean contacts (90 d)": part["contacts_90d"].mean(),
            }
        )
    return pd.DataFrame(rows).set_index("set").round(3)


def segment_table(seg: Segmenter) -> pd.DataFrame:
    """Each segment's size in the campaign and its plain-language description."""
    sizes = seg.release_["profiles"]["size"]
    return pd.DataFrame(
        {
            "customers (campaign)": [int(sizes.get(s, 0)) for s in range(seg.n_segments_)],
            "description": [seg.descriptions_.get(s, "") for s in range(seg.n_segments_)],
        },
        index=pd.RangeIndex(seg.n_segments_, name="segment"),
    )


def metrics_table(metrics: dict) -> pd.DataFrame:
    """The run's metrics as a two-column table, rounded for reading."""
    return pd.DataFrame(
        {"value": [round(v, 4) if isinstance(v, float) else v for v in metrics.values()]},
        index=pd.Index(list(metrics), name="metric"),
    )

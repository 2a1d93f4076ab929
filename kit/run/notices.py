"""Notices customers can read: "why you received this offer", one per segment, from what was read.

Each held-out customer gets the notice of their segment, or, when the approach did not profile
them (no profiling consent, or an approach without personal data), the notice for customers who
were not profiled. A notice names, in plain words, every data category that was read about the
customer to choose their offer (the approach's features, the columns' categories in
`kit.vocabulary.CATEGORY_WORDS`) and what the policy checked before contacting them (marketing
consent, age and recent contacts for the contact cap; the protected attribute where the parity
policy reads it). Columns masked by purpose limitation were not read, so they are not named.
`kit.measures.notices` then scores each notice for readability and, independently, for truth.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..features import source_columns
from ..measures.notices import categories_named, flesch_reading_ease
from ..segmenters import Segmenter
from ..targeting import POLICY_COLUMNS
from ..vocabulary import CATEGORY_WORDS, COLUMN_CATEGORY

HARM_CAP_COLUMNS: tuple[str, ...] = ("income_band",)  # what `targeting.vulnerable` reads beyond POLICY_COLUMNS
TRUTH_WORDS = "what you would buy, which only this simulation knows"


def _join(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _categories(columns) -> list[str]:
    """Data categories of columns, each once, in `CATEGORY_WORDS` order."""
    found = {COLUMN_CATEGORY[c] for c in columns if c in COLUMN_CATEGORY}
    return [k for k in CATEGORY_WORDS if k in found]


def profile_categories(seg: Segmenter, masked: tuple[str, ...] = ()) -> list[str]:
    """Categories the approach reads about a customer to place them in a segment."""
    if seg.uses_truth:
        return ["truth"]
    return _categories(c for c in source_columns(seg.feature_names_) if c not in masked)


def policy_columns(seg: Segmenter, harm_cap: float = math.inf) -> tuple[str, ...]:
    """Columns the targeting policy reads about every customer before contacting them: consent, age
    and recent contacts always; the protected attribute under parity; the income band when a finite
    `harm_cap` protects vulnerable (older or low-income) customers."""
    extra = {"older": ("older",), "gender": ("gender",)}.get(getattr(seg, "protected", ""), ())
    cols = POLICY_COLUMNS + extra if seg.targeting == "parity" else POLICY_COLUMNS
    return cols if math.isinf(harm_cap) else cols + HARM_CAP_COLUMNS


def _group_sentence(description: str) -> str:
    """'18% of customers; favour home, prefer web.' -> 'People in your group favour home and prefer web.'"""
    parts = [p.strip().rstrip(".") for p in description.split(";")]
    traits = [t.strip() for t in (parts[1] if len(parts) > 1 else "").split(",") if t.strip()]
    if not traits or traits == ["close to the average customer"]:
        return "Your group is close to the average customer."
    return f"People in your group {_join(traits)}."


def notice_text(categories: list[str], checked: list[str], description: str | None) -> str:
    """The notice: what was read to place the customer (none when not profiled), then what was checked."""
    words = [TRUTH_WORDS if c == "truth" else CATEGORY_WORDS[c] for c in categories]
    if description is None:
        head = (
            "Why you got this offer. We did not sort you into a group: everyone in your position gets the same offer."
        )
    else:
        head = f"Why you got this offer. We sorted customers into groups by {_join(words)}."
        if "truth" not in categories:
            head += " " + _group_sentence(description)
    check = [CATEGORY_WORDS[c] for c in checked]
    return f"{head} Before we wrote to you, we also checked {_join(check)}." if check else head


def segment_notices(
    seg: Segmenter,
    labels: np.ndarray,
    profiled: np.ndarray,
    masked: tuple[str, ...] = (),
    harm_cap: float = math.inf,
) -> pd.DataFrame:
    """One row per notice held-out customers receive: segment (-1 for customers not profiled),
    customers, notice, the categories read, Flesch reading ease and whether the notice is truthful.
    Aggregates only: a notice is per segment, never per customer."""
    read = profile_categories(seg, masked)
    checked = _categories(policy_columns(seg, harm_cap))
    labels = np.asarray(labels)
    profiled = np.asarray(profiled, dtype=bool)
    rows = []
    groups = [(int(s), profiled & (labels == s)) for s in range(seg.n_segments_)] + [(-1, ~profiled)]
    for s, members in groups:
        n = int(members.sum())
        if n == 0:
            continue
        cats = read if s >= 0 else []
        text = notice_text(cats, checked, seg.descriptions_.get(s, "") if s >= 0 else None)
        expected = set(cats) | set(checked)
        rows.append(
            {
                "segment": s,
                "customers": n,
                "notice": text,
                "categories_read": ", ".join(sorted(expected)),
                "reading_ease": flesch_reading_ease(text),
                "truthful": categories_named(text) == expected,
            }
        )
    return pd.DataFrame(rows)


def notice_metrics(notices: pd.DataFrame) -> dict:
    """`notice_reading_ease`: customer-weighted mean Flesch reading ease of the notices received;
    `notice_truthful`: share of notices that name exactly the categories read."""
    w = notices["customers"].to_numpy(dtype=float)
    return {
        "notice_reading_ease": float(np.average(notices["reading_ease"].to_numpy(), weights=w)),
        "notice_truthful": float(notices["truthful"].mean()),
    }

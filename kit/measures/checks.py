"""Ethics checks a run must pass: counts of breaches, 0 is a pass."""

from __future__ import annotations

import numpy as np
import pandas as pd

FOUR_FIFTHS = 0.8


def passes_four_fifths(di: float) -> bool:
    """The four-fifths rule (EEOC 1978) for a disparate impact ratio di = rate_u / rate_p: the lower
    of the two groups' rates is at least 0.8 x the higher, i.e. 0.8 <= di <= 1.25. nan fails."""
    return bool(FOUR_FIFTHS <= di <= 1 / FOUR_FIFTHS)


def ethics_checks(
    holdout: pd.DataFrame,
    decisions: pd.DataFrame,
    profiled: np.ndarray,
    descriptions: dict[int, str],
    n_segments: int,
    older_contact_cap: int,
    fairness: dict,
) -> dict:
    """Counts of breaches; 0 is a pass.

    - consent_violations: held-out customers profiled with personal data without profiling consent;
    - fatigue_violations: older customers contacted although they already had `older_contact_cap`
      or more contacts in 90 days (the same "at the cap" rule as the targeting policy: >= cap);
    - undescribed_segments: segments 0..n_segments-1 without a plain-language description;
    - four_fifths_fail: disparate impact ratios (``di_*`` in `fairness`) failing the four-fifths rule
      (`passes_four_fifths`: either group's offer rate under 0.8 x the other's); an undefined ratio
      (nan: nobody in the privileged group offered) counts as a failure, since the rule cannot be
      shown to hold.
    """
    no_consent = ~holdout["profiling_consent"].to_numpy(dtype=bool)
    older = holdout["older"].to_numpy(dtype=bool)
    over_cap = holdout["contacts_90d"].to_numpy() >= older_contact_cap
    di = [v for k, v in fairness.items() if k.startswith("di_")]
    return {
        "consent_violations": int((np.asarray(profiled, dtype=bool) & no_consent).sum()),
        "fatigue_violations": int((decisions["offered"].to_numpy(dtype=bool) & older & over_cap).sum()),
        "undescribed_segments": int(sum(1 for s in range(n_segments) if not str(descriptions.get(s, "")).strip())),
        "four_fifths_fail": int(sum(1 for v in di if not passes_four_fifths(v))),
    }

"""The kit's vocabulary: actions and their contact costs, bands, channels, column groups.

Every stage below the study speaks in these names; they live here, at the bottom, so no stage
has to import another stage just to spell a column or an action.
"""

from __future__ import annotations

# --- The action catalogue -------------------------------------------------------------------
# Contact cost per customer contacted; "none" is the no-contact action, free and always allowed.
ACTIONS: tuple[str, ...] = ("none", "discount", "loyalty", "new_product")
ACTION_COST: dict[str, float] = {"none": 0.0, "discount": 2.0, "loyalty": 1.0, "new_product": 0.5}

AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+")
AGE_BAND_EDGES = (18, 25, 35, 45, 55, 65, 75, 200)
GENDERS: tuple[str, ...] = ("female", "male")
INCOME_BANDS: tuple[str, ...] = ("low", "lower-middle", "middle", "upper-middle", "high")
# The lowest income bands: customers the harm measures and the harm cap protect (with older ones).
LOW_INCOME_BANDS: tuple[str, ...] = INCOME_BANDS[:2]
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

# Tables that could be rendered never show a cell of fewer customers than this.
MIN_CELL = 10

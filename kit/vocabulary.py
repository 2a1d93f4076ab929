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

# --- Data categories and purposes (notices to customers; purpose limitation) ------------------
# Each firm-held column belongs to one data category, named in the words a customer reads in a
# notice ("why you received this offer", GDPR art. 13-15).
CATEGORY_WORDS: dict[str, str] = {
    "purchases": "when you last bought, how often you buy and how much you spend",
    "tenure": "how long you have been a customer",
    "products": "the kinds of products you buy",
    "channel": "how you like to shop",
    "engagement": "whether you open our messages",
    "contacts": "how often we wrote to you lately",
    "age": "your age",
    "gender": "your gender",
    "income": "your income band",
    "postcode": "your postcode area",
    "consent": "the choices you made about our use of your data",
    "campaign": "how you answered our past offers",
}
COLUMN_CATEGORY: dict[str, str] = {
    "recency_days": "purchases",
    "frequency": "purchases",
    "monetary": "purchases",
    "tenure_months": "tenure",
    **{f"aff_{c}": "products" for c in CATEGORIES},
    "channel": "channel",
    "engagement": "engagement",
    "contacts_90d": "contacts",
    "age": "age",
    "age_band": "age",
    "older": "age",
    "gender": "gender",
    "income_band": "income",
    "postcode_area": "postcode",
    "marketing_consent": "consent",
    "profiling_consent": "consent",
    "in_campaign": "campaign",
    "hist_action": "campaign",
    "hist_response": "campaign",
    "hist_value": "campaign",
}

# The purposes the firm collected its data for, and which purposes each firm-held column was
# collected for (GDPR art. 5(1)(b), purpose limitation). Declarations of this synthetic firm: the
# income band comes from credit checks and was never collected for marketing.
PURPOSES: tuple[str, ...] = ("marketing", "service", "credit_check")
_SHOP = ("marketing", "service")
COLUMN_PURPOSES: dict[str, tuple[str, ...]] = {
    "customer_id": PURPOSES,
    **{c: _SHOP for c in BEHAVIOUR},
    "age": _SHOP,
    "age_band": _SHOP,
    "older": _SHOP,
    "gender": _SHOP,
    "income_band": ("credit_check",),
    "postcode_area": PURPOSES,
    "marketing_consent": PURPOSES,
    "profiling_consent": PURPOSES,
    **{c: ("marketing",) for c in CAMPAIGN},
}


def columns_outside_purpose(columns, purpose: str) -> tuple[str, ...]:
    """The columns among `columns` not declared for `purpose` (in the order given)."""
    return tuple(c for c in columns if c in COLUMN_PURPOSES and purpose not in COLUMN_PURPOSES[c])

"""Parameters of a run: what each one means, its type, default and allowed values, and the check.

Papermill injects whatever it is given and only warns about names it does not know; the kit
checks every value here, before any expensive work, and names the parameter and what is allowed
in the error. The same specs document the parameters (``crmkit approaches``) and validate
study files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .vocabulary import PURPOSES

INF = math.inf

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


class ParameterError(ValueError):
    """A parameter value is unknown, of the wrong type or out of range. `where` names it."""

    def __init__(self, where: str, message: str):
        self.where = where
        super().__init__(f"{where}: {message}")


def _bound(v: float) -> str:
    """A range bound as written: 4294967295, not 4.29497e+09; 0.5 as 0.5."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass(frozen=True)
class Spec:
    """One parameter: its type, default, allowed range or choices, and a one-line meaning."""

    type: type
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    low_open: bool = False  # True: the low bound itself is not allowed
    allow_inf: bool = False  # floats only: +inf allowed (e.g. epsilon = infinity, no privacy)

    def allowed(self) -> str:
        """Plain-language statement of the allowed values (used in errors and listings)."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        tname = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[self.type]
        if self.low is None and self.high is None:
            return tname
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {_bound(self.low)}"
        hi = "" if self.high is None else f"<= {_bound(self.high)}"
        rng = " and ".join(x for x in (lo, hi) if x)
        if self.allow_inf:
            rng += " (or inf)"
        return f"{tname} {rng}"

    def check(self, where: str, value: Any) -> Any:
        """Return the value, converted where lossless (int -> float), or raise ParameterError."""
        t = self.type
        if t is float and isinstance(value, str) and value.strip().lower() in ("inf", "infinity") and self.allow_inf:
            value = INF
        if isinstance(value, bool) and t is not bool:
            raise ParameterError(where, f"expected {self.allowed()}, got {value!r}")
        if t is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, t):
            raise ParameterError(where, f"expected {self.allowed()}, got {type(value).__name__} {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(where, f"{value!r} is not allowed; expected {self.allowed()}")
        if t in (int, float):
            if t is float and math.isnan(value):
                raise ParameterError(where, f"expected {self.allowed()}, got nan")
            if math.isinf(value) and not (self.allow_inf and value > 0):
                raise ParameterError(where, f"expected {self.allowed()}, got {value!r}")
            if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
                raise ParameterError(where, f"{value!r} is out of range; expected {self.allowed()}")
            if self.high is not None and value > self.high and not math.isinf(value):
                raise ParameterError(where, f"{value!r} is out of range; expected {self.allowed()}")
        return value


def _knob(name: str, t: type, default: Any, doc: str) -> Spec:
    lo, hi = KNOB_RANGES[name]
    return Spec(t, default, doc, low=lo, high=hi)


# The run's parameters other than the approach's own: population knobs, policy, bookkeeping.
RUN_SPECS: dict[str, Spec] = {
    "seed": Spec(int, 0, "the one seed every random draw of the run flows from", low=0, high=2**32 - 1),
    "n_customers": _knob("n_customers", int, 20_000, "customers generated (campaign + held-out)"),
    "n_segments": _knob("n_segments", int, 6, "latent segments in the generator's truth"),
    "proxy_strength": _knob(
        "proxy_strength", float, 0.5, "0: behaviour says nothing of age/gender; 1: it reveals them"
    ),
    "label_bias": _knob("label_bias", float, 0.0, "share of older customers' campaign responses not recorded"),
    "consent_rate": _knob("consent_rate", float, 0.7, "probability a customer gave profiling consent"),
    "older_share": _knob("older_share", float, 0.25, "share of customers aged 65+"),
    "older_fatigue": _knob("older_fatigue", float, 0.3, "logit drop in older customers' response per recent contact"),
    "history_share": _knob("history_share", float, 0.5, "share of customers in the historical campaign"),
    "budget": Spec(float, 0.5, "share of held-out customers the policy may contact", low=0.0, high=1.0, low_open=True),
    "older_contact_cap": Spec(
        int, 3, "older customers with this many contacts in 90 days get no more", low=0, high=100
    ),
    "min_obs": Spec(
        int, 30, "campaign observations a segment needs per action, else it gets the mass action", low=1, high=1_000_000
    ),
    "respect_consent": Spec(
        bool, True, "fit on and profile only customers with profiling consent (false: ignore it; the run is infeasible)"
    ),
    "audit_trials": Spec(
        int, 14, "canary membership audit: fits with and without the canary, each (0: no audit)", low=0, high=500
    ),
    "harm_cap": Spec(
        float,
        INF,
        "largest estimated extra spending an offer may push onto an older or low-income customer (inf: no cap)",
        low=0.0,
        allow_inf=True,
    ),
    # Trust over time (kit.run.longrun): every response rule is an assumption, swept as a sensitivity analysis.
    "horizon": Spec(int, 1, "campaign periods (quarters) simulated; 1: today's single campaign", low=1, high=40),
    "discount": Spec(float, 0.98, "value of the next period's money relative to this one's", low=0.0, high=1.0),
    "trust_sensitivity": Spec(
        float,
        0.1,
        "trust lost per unit of strain (a contact above tolerance; intrusion_weight per bit)",
        low=0.0,
        high=1.0,
    ),
    "contact_tolerance": Spec(int, 4, "contacts in 90 days a customer accepts without losing trust", low=0, high=100),
    "intrusion_weight": Spec(
        float, 5.0, "strain of one bit of offer intrusion, in contacts above tolerance", low=0.0, high=100.0
    ),
    "trust_recovery": Spec(float, 0.1, "share of lost trust regained each period", low=0.0, high=1.0),
    "notice_effect": Spec(
        float,
        0.0,
        "trust change of a contacted customer whose notice of why is truthful (0: notices do not move trust)",
        low=-1.0,
        high=1.0,
    ),
    "base_churn": Spec(
        float, 0.02, "share of customers who leave each period whatever the firm does", low=0.0, high=1.0
    ),
    "distrust_churn": Spec(float, 0.3, "extra churn per period of a customer with no trust left", low=0.0, high=1.0),
    "distrust_optout": Spec(
        float, 0.5, "consent withdrawal per period of a customer with no trust left", low=0.0, high=1.0
    ),
    "purpose": Spec(
        str, "marketing", "what the data is used for: approaches read only columns declared for it", choices=PURPOSES
    ),
    "retention_days": Spec(
        int, 0, "days of purchase data the firm keeps for profiling; 0: all of it", low=0, high=3650
    ),
    "erasure_rate": Spec(
        float,
        0.0,
        "share of campaign customers who ask to be forgotten after the first fit (GDPR art. 17)",
        low=0.0,
        high=0.9,
    ),
    "erasure": Spec(
        str,
        "refit",
        "refit: refit without the erased customers; none: keep the first release",
        choices=("refit", "none"),
    ),
    "purpose_limitation": Spec(
        bool, True, "true: columns not declared for the purpose are hidden from the approach (GDPR art. 5(1)(b))"
    ),
    "data": Spec(
        str, "", "a study on a customer table: its data block as JSON (set by the study); empty: the generator"
    ),
}

# Runs one study may expand to unless the caller raises the cap (`crmkit run --max-runs N`): a grid
# that big is more often a mistake (a seed list of range(10**6)) than a plan. Here, not in kit.study,
# so the command line can show it without importing the science stack.
MAX_RUNS_PER_STUDY = 5_000

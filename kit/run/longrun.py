"""Trust over time: the run's campaign repeated over `horizon` periods, with customers who react.

The articles behind the kit claim that ethical segmentation pays back in trust and loyalty. A single
campaign cannot show that; this simulation can show *under which assumptions* it would. Every
response rule below is an assumption, not a fact: the knobs are run parameters (`kit.params.RUN_SPECS`)
so a study can sweep them as a sensitivity analysis.

Each period t = 1..horizon (a period is a quarter, the 90 days `contacts_90d` counts):

1. **The firm re-fits and targets.** Period 1 is the run's own campaign (the segmenter and decisions
   the pipeline made, untouched: horizon 1 is today's single campaign bit for bit). From period 2
   the approach is re-fitted (`sklearn.base.clone`, same parameters and random_state) on the campaign
   customers still active, with their current data (contacts, consent), and the shared policy
   targets the active held-out customers and, with its own tie-breaks, the active campaign customers
   (their reactions change the data the next fit sees). The response log stays the one randomised
   campaign: the firm does not learn from its own targeted offers (that would need off-policy
   correction). With fewer than ``2 * min_obs * 4`` active campaign customers the previous fit is kept.
2. **Value.** ``V_t`` = sum over active held-out customers of the true net value of their action,
   divided by the number of held-out customers at the start (a churned customer is worth 0: they no
   longer buy at all). Older customers' response follows the generator's fatigue rule: a contact in
   period t adds one to their 90-day count in period t + 1 (logit ``- older_fatigue`` per contact).
3. **Trust moves** (every customer starts at trust 1). A contacted customer's strain is the number
   of contacts in their 90-day window above `contact_tolerance` (``max(0, contacts_90d + 1 -
   tolerance)``) plus ``intrusion_weight`` x their offer's intrusion in bits
   (`kit.measures.wellbeing.intrusion`). Then ``trust <- clip(trust - trust_sensitivity * strain
   + trust_recovery * (1 - trust) + notice_effect * contacted, 0, 1)``. `notice_effect` stands for a
   truthful notice: every offer comes with its segment's notice ("why you got this",
   `kit.run.notices`), and a contacted customer whose notice names exactly the data categories read
   about them (truthful) gains `notice_effect`; an untruthful notice gains nothing. It defaults to 0
   (notices have no effect on trust). Transparency raised ad effectiveness when the disclosed
   information flow was acceptable and lowered it when not (Kim, Barasz & John 2019, J. Consumer
   Research 45(5)): the knob may be negative.
4. **Low trust leads to opt-out and churn.** With one uniform draw each per customer and period,
   shared by every approach in the world (common random numbers, so comparisons are paired):
   a customer churns when ``u < base_churn + distrust_churn * (1 - trust)``; otherwise an active
   customer who has not opted out withdraws marketing and profiling consent when ``u' <
   distrust_optout * (1 - trust)`` (no more offers; no more profiling). The hazards are linear in
   distrust: the simplest form in which trust mediates loyalty (Morgan & Hunt 1994, J. Marketing
   58(3); Martin, Borah & Palmatier 2017, J. Marketing 81(1), on data-privacy vulnerability and
   customer defection).

At `trust_sensitivity` 0 trust stays at 1, so churn is `base_churn` for every approach alike and
nobody opts out: the same customers churn under every approach of a world.

Metrics (held-out customers; churn and opt-out include the reaction to the last period's offers):
`value_longrun` = sum_t discount^(t-1) V_t; `churn_rate` (share churned), `optout_rate` (share
active but opted out); each also for older customers and the lowest income bands (`*_older`,
`*_low_income`, value per customer of the group); `trust_end` (mean trust of held-out customers).
Tables: `longrun_by_period` (`customers`: active held-out customers at the period's start) and
`longrun_by_group` (aggregates, no cell under MIN_CELL customers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..features import purpose_view
from ..measures.fairness import join_columns
from ..measures.wellbeing import intrusion, low_income, protected_cells
from ..population import Population
from ..segmenters import Segmenter
from ..targeting import Policy, target_customers
from ..vocabulary import ACTION_COST, ACTIONS, MIN_CELL
from .notices import segment_notices

_LONGRUN_KEY = 105  # spawn key of the simulation's draws: (105, period, stream)
_HOLDOUT, _CAMPAIGN, _REACTIONS = 0, 1, 2

# The run parameters this module reads (defaults, ranges and meanings in kit.params.RUN_SPECS).
TRUST_KNOBS: tuple[str, ...] = (
    "horizon",
    "discount",
    "trust_sensitivity",
    "contact_tolerance",
    "intrusion_weight",
    "trust_recovery",
    "notice_effect",
    "base_churn",
    "distrust_churn",
    "distrust_optout",
)


@dataclass(frozen=True)
class TrustModel:
    """How customers react, period by period (see the module docstring; all assumptions)."""

    trust_sensitivity: float = 0.1
    contact_tolerance: int = 4
    intrusion_weight: float = 5.0
    trust_recovery: float = 0.1
    notice_effect: float = 0.0
    base_churn: float = 0.02
    distrust_churn: float = 0.3
    distrust_optout: float = 0.5

    @classmethod
    def from_params(cls, params) -> TrustModel:
        """The model of a run's parameters (`kit.run.params.RunParams`)."""
        return cls(**{k: params.values[k] for k in TRUST_KNOBS if k not in ("horizon", "discount")})

    def update_trust(
        self,
        trust: np.ndarray,
        contacted: np.ndarray,
        contacts_window: np.ndarray,
        intrusion_bits: np.ndarray,
        truthful_notice: np.ndarray | bool = True,
    ) -> np.ndarray:
        """Trust after one period: strain lowers it, recovery and truthful notices raise it, clipped
        to [0, 1]. `truthful_notice`: whether each customer's notice names exactly what was read."""
        over = np.where(contacted, np.maximum(contacts_window - self.contact_tolerance, 0), 0)
        strain = over + self.intrusion_weight * np.where(contacted, intrusion_bits, 0.0)
        new = trust - self.trust_sensitivity * strain + self.trust_recovery * (1.0 - trust)
        new = new + self.notice_effect * (contacted & truthful_notice)
        return np.clip(new, 0.0, 1.0)

    def react(self, trust: np.ndarray, u_churn: np.ndarray, u_optout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Who churns and who opts out this period, from uniform draws (common to every approach)."""
        distrust = 1.0 - trust
        churn = u_churn < self.base_churn + self.distrust_churn * distrust
        optout = ~churn & (u_optout < self.distrust_optout * distrust)
        return churn, optout


@dataclass
class _State:
    """Where every customer of the population stands: the data the firm sees now, and trust."""

    active: np.ndarray
    opted_out: np.ndarray
    trust: np.ndarray
    contacted_last: np.ndarray


def _current_frame(customers: pd.DataFrame, state: _State, older_fatigue: float, logit0: dict) -> pd.DataFrame:
    """The population as the firm sees it this period (contacts, consent) and as the truth is now
    (older customers' fatigue from last period's contact). Original columns are kept where unchanged."""
    extra = state.contacted_last.astype(np.int32)
    cur = customers.copy()
    cur["contacts_90d"] = customers["contacts_90d"].to_numpy() + extra
    cur["marketing_consent"] = customers["marketing_consent"].to_numpy() & ~state.opted_out
    cur["profiling_consent"] = customers["profiling_consent"].to_numpy() & ~state.opted_out
    shift = older_fatigue * extra * customers["older"].to_numpy(dtype=bool)
    if shift.any():
        for a in ACTIONS[1:]:
            p = customers[f"p_{a}"].to_numpy()
            cur[f"p_{a}"] = np.where(shift > 0, 1.0 / (1.0 + np.exp(-(logit0[a] - shift))), p)
    return cur


def _net_values(frame: pd.DataFrame, actions: np.ndarray) -> np.ndarray:
    """Each customer's true net value of the action they got (p * v - cost)."""
    cols = [frame[f"p_{a}"].to_numpy() * frame[f"v_{a}"].to_numpy() - ACTION_COST[a] for a in ACTIONS]
    nv = np.stack(cols, axis=1)
    return nv[np.arange(len(nv)), actions]


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def _rng(seed: int, period: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_LONGRUN_KEY, period, stream)))


def truthful_notices(seg: Segmenter, customers: pd.DataFrame, labels: np.ndarray, masked: tuple[str, ...] = ()):
    """Whether the notice each customer receives (`kit.run.notices`: their segment's, or the one for
    customers not profiled) names exactly the data categories read about them."""
    profiled = np.asarray(seg.profiled(customers), dtype=bool)
    notices = segment_notices(seg, labels, profiled, masked)
    lookup = np.zeros(seg.n_segments_ + 1, dtype=bool)  # index: segment + 1 (0: not profiled)
    lookup[notices["segment"].to_numpy() + 1] = notices["truthful"].to_numpy(dtype=bool)
    return lookup[np.where(profiled, np.asarray(labels), -1) + 1]


def simulate(
    params,
    population: Population,
    seg: Segmenter,
    decisions: pd.DataFrame,
    policy: Policy,
    masked: tuple[str, ...] = (),
    fit_customers: pd.DataFrame | None = None,
) -> tuple[dict, dict]:
    """Run the campaign over ``params.horizon`` periods; returns (metrics, tables) as described in
    the module docstring. Period 1 uses `seg` and the held-out `decisions` as they are; `masked`:
    columns purpose limitation hides from the approach (as in the run's own fit and targeting);
    `fit_customers`: the population as the approach reads it when fitting (purchase data within the
    retention window), default the population itself."""
    customers = population.customers
    fit_customers = customers if fit_customers is None else fit_customers
    n = len(customers)
    horizon, discount = int(params.horizon), float(params.discount)
    model = TrustModel.from_params(params)
    in_campaign = customers["in_campaign"].to_numpy()
    hold_idx = np.flatnonzero(~in_campaign)
    camp_idx = np.flatnonzero(in_campaign)
    n_hold = len(hold_idx)
    cells_all = protected_cells(customers)
    logit0 = {}
    if params.older_fatigue > 0 and horizon > 1:
        for a in ACTIONS[1:]:
            p = np.clip(customers[f"p_{a}"].to_numpy(), 1e-15, 1 - 1e-15)
            logit0[a] = np.log(p / (1 - p))
    state = _State(
        active=np.ones(n, bool), opted_out=np.zeros(n, bool), trust=np.ones(n), contacted_last=np.zeros(n, bool)
    )
    min_fit = 2 * policy.min_obs * len(ACTIONS)
    history = population.history  # what `seg` was fitted on
    value_total = 0.0
    value_hold = np.zeros(n_hold)  # discounted value per held-out customer, for the group metrics
    rows = []
    for t in range(1, horizon + 1):
        contacted = np.zeros(n, bool)
        intr = np.zeros(n)
        truthful = np.ones(n, bool)
        actions = np.zeros(n, np.int64)
        if t == 1:
            frame = customers
            targeted = [(hold_idx, decisions)]
        else:
            frame = _current_frame(customers, state, params.older_fatigue, logit0)
            camp_active = camp_idx[state.active[camp_idx]]
            if len(camp_active) >= min_fit:  # else: the previous fit, with the history it was fitted on
                history = frame.iloc[camp_active]
                fit_frame = frame if fit_customers is customers else _current_frame(fit_customers, state, 0.0, {})
                seg = clone(seg).fit(purpose_view(fit_frame.iloc[camp_active], masked))
            targeted = []
            for idx, stream in ((hold_idx, _HOLDOUT), (camp_idx, _CAMPAIGN)):
                live = idx[state.active[idx]]
                if len(live):
                    rng = _rng(params.seed, t, stream)
                    targeted.append((live, target_customers(seg, history, frame.iloc[live], policy, rng, masked)[1]))
        for live, dec in targeted:
            act = dec["action"].cat.codes.to_numpy().astype(np.int64)
            labels = dec["segment"].to_numpy()
            actions[live] = act
            contacted[live] = act > 0
            intr[live] = intrusion(labels, act, cells_all[live])
            if model.notice_effect != 0:
                truthful[live] = truthful_notices(seg, frame.iloc[live], labels, masked)
        nv = _net_values(frame.iloc[hold_idx], actions[hold_idx])
        v_t = np.where(state.active[hold_idx], nv, 0.0)
        period_value = float(v_t.mean())
        value_total = value_total + discount ** (t - 1) * period_value
        value_hold += discount ** (t - 1) * v_t
        # Reactions to this period's offers.
        window = frame["contacts_90d"].to_numpy() + 1
        trust = model.update_trust(state.trust, contacted & state.active, window, intr, truthful)
        trust = np.where(state.active, trust, state.trust)
        react_rng = _rng(params.seed, t, _REACTIONS)
        u_churn, u_opt = react_rng.random(n), react_rng.random(n)
        churn, optout = model.react(trust, u_churn, u_opt)
        churn &= state.active
        optout &= state.active & ~state.opted_out
        rows.append(
            {
                "period": t,
                "customers": int(state.active[hold_idx].sum()),
                "value": period_value,
                "offer_rate": float((contacted[hold_idx] & state.active[hold_idx]).mean()),
                "intrusiveness": float(intr[hold_idx].mean()),
                "trust_mean": _mean(trust[hold_idx][state.active[hold_idx]]),
                "churned_this_period": float(churn[hold_idx].mean()),
                "opted_out_this_period": float(optout[hold_idx].mean()),
            }
        )
        state = _State(
            active=state.active & ~churn,
            opted_out=state.opted_out | optout,
            trust=trust,
            contacted_last=contacted & state.active,
        )
    return _results(customers.iloc[hold_idx], state, hold_idx, value_total, value_hold, rows)


def _results(
    holdout: pd.DataFrame,
    state: _State,
    hold_idx: np.ndarray,
    value_total: float,
    value_hold: np.ndarray,
    rows: list[dict],
) -> tuple[dict, dict]:
    """Metrics and tables of the simulation, on the held-out customers."""
    churned = ~state.active[hold_idx]
    opted = state.active[hold_idx] & state.opted_out[hold_idx]
    trust = state.trust[hold_idx]
    groups = {"older": holdout["older"].to_numpy(dtype=bool), "low_income": low_income(holdout)}
    metrics = {"value_longrun": value_total, "churn_rate": float(churned.mean()), "optout_rate": float(opted.mean())}
    for name, mask in groups.items():
        some = mask.any()
        metrics[f"value_longrun_{name}"] = float(value_hold[mask].mean()) if some else np.nan
        metrics[f"churn_rate_{name}"] = float(churned[mask].mean()) if some else np.nan
        metrics[f"optout_rate_{name}"] = float(opted[mask].mean()) if some else np.nan
    metrics["trust_end"] = float(trust.mean())
    keys = pd.DataFrame(
        {
            "older": np.where(groups["older"], "older (65+)", "under 65"),
            "gender": holdout["gender"].astype(str).to_numpy(),
            "income": np.where(groups["low_income"], "lowest two bands", "other bands"),
            "customers": 1,
            "value_longrun": value_hold,
            "churned": churned.astype(float),
            "opted_out": opted.astype(float),
            "trust_end": trust,
        }
    )
    parts = []
    for by in (["older", "gender"], ["income"]):
        g = keys.groupby(by, sort=True).agg(
            customers=("customers", "sum"),
            value_longrun=("value_longrun", "mean"),
            churn_rate=("churned", "mean"),
            optout_rate=("opted_out", "mean"),
            trust_end=("trust_end", "mean"),
        )
        g = g[g["customers"] >= MIN_CELL].reset_index()
        g.insert(0, "group", join_columns(g, by, ", "))
        g.insert(0, "grouping", " x ".join(by))
        parts.append(g.drop(columns=by))
    by_period = pd.DataFrame(rows)
    tables = {
        "longrun_by_period": by_period[by_period["customers"] >= MIN_CELL].reset_index(drop=True),
        "longrun_by_group": pd.concat(parts, ignore_index=True),
    }
    return metrics, tables

"""One run, end to end: parameters -> population -> segments -> targeting -> measurements.

The experiment notebook calls these steps one by one (so a reader sees the data flow); tests
and benchmarks call `run_experiment`. Seeds: the population is drawn from ``seed`` itself (so
``crmkit population --seed S`` writes the population a run with seed S uses); the segmenter and the
policy's tie-breaks draw from children of ``SeedSequence(seed)`` with spawn keys of their own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..features import masked_columns, purpose_view, reused_feature_tables
from ..measures import (
    ATTR_INFERENCE_QI,
    FAIRNESS_ATTRS,
    INTERSECTION,
    attack_columns,
    attribute_inference,
    audience_privacy,
    canary_audit,
    cap_excluded_share,
    ethics_checks,
    fairness_metrics_many,
    fairness_table,
    gain_by_group,
    gain_share,
    group_table,
    intersection_metrics,
    make_canary,
    min_segment_size,
    offer_beneficial,
    policy_value,
    segment_balance,
    tracing_attack,
    truly_helps,
)
from ..measures.audit import AUDIT_MAX_FIT
from ..measures.fairness import join_columns
from ..measures.wellbeing import wellbeing_metrics
from ..params import ParameterError
from ..population import Population, make_population
from ..population.history import retained_behaviour
from ..segmenters import CONSENT_EXEMPT, ConsentGate, Segmenter, consent_gated, make_segmenter
from ..segmenters.base import fit_sample
from ..sources import DataTable, load_table, parse_data
from ..targeting import Policy, target_customers
from ..vocabulary import MIN_CELL, QUASI_IDENTIFIERS, columns_outside_purpose
from .erasure import after_erasure, erased_rows, firm_population
from .longrun import simulate
from .notices import notice_metrics, policy_columns, segment_notices
from .offpolicy import crossfit_terms, offpolicy_metrics
from .params import RunParams
from .timing import timed_stage
from .truthless import measure_without_truth

_SEGMENTER_KEY = 101
_POLICY_KEY = 102
_BOOTSTRAP_KEY = 103
_TRACING_KEY = 104
_AUDIT_KEY = 105
_RETENTION_KEY = 111
_ERASURE_AUDIT_KEY = 113


def stage_seed(seed: int, key: int) -> np.random.SeedSequence:
    """The seed sequence of one stage of a run (population uses `seed` itself)."""
    return np.random.SeedSequence(seed, spawn_key=(key,))


def stage_int(seed: int, key: int) -> int:
    """An integer random_state for scikit-learn, drawn from the stage's seed sequence."""
    return int(stage_seed(seed, key).generate_state(1)[0])


@dataclass
class RunResult:
    """Everything a run computed: what the notebook shows and what gets saved."""

    params: RunParams
    population: Population
    segmenter: Segmenter
    segment_values: pd.DataFrame
    decisions: pd.DataFrame
    metrics: dict
    tables: dict = field(default_factory=dict)


@timed_stage("population")
def build_population(params: RunParams) -> Population | DataTable:
    """Generate the run's population from its knobs and seed; or, for a study on a customer table
    (the ``data`` parameter), read, check and encode that table (`kit.sources`)."""
    if params.values.get("data"):
        return load_table(parse_data(json.loads(params.data), base_dir="/", where="data"))
    return make_population(**params.population_knobs(), random_state=params.seed)


def retained(params: RunParams, population: Population) -> pd.DataFrame:
    """Every customer with purchase data only within the run's retention window (`retention_days`)."""
    customers = population.customers
    if params.retention_days:
        rng = np.random.default_rng(stage_seed(params.seed, _RETENTION_KEY))
        customers = retained_behaviour(customers, params.retention_days, rng)
    return customers


def firm_view(params: RunParams, population: Population, rows: np.ndarray) -> pd.DataFrame:
    """The customers at `rows` as approaches may read them: purchase data only within the run's
    retention window (`retention_days`), and only the columns declared for its purpose."""
    return purpose_view(retained(params, population)[rows], masked_columns(params.purpose, params.purpose_limitation))


def erased(params: RunParams, population: Population) -> np.ndarray:
    """The customers who asked to be forgotten (`erasure_rate`; a mask over all customers)."""
    return erased_rows(params.erasure_rate, population.customers["in_campaign"].to_numpy(), params.seed)


def firm_data(params: RunParams, population: Population | DataTable) -> Population | DataTable:
    """The population as the firm holds it when it fits, targets and releases: after the erasure
    requests (`kit.run.erasure`; unchanged when nobody asked or under ``erasure: none``)."""
    if isinstance(population, DataTable) or not params.erasure_rate:
        return population
    return firm_population(population, erased(params, population), params.erasure)


@timed_stage("fit")
def fit_segmenter(params: RunParams, population: Population) -> Segmenter:
    """Fit the run's approach on the campaign customers: with `respect_consent` (the default) only on
    those with profiling consent, behind a `ConsentGate` that gives everyone else the mass treatment
    (only mass, which reads no personal data, is not gated); without customers whose data was
    erased (`firm_data`)."""
    population = firm_data(params, population)
    seg = make_segmenter(params.approach, random_state=stage_int(params.seed, _SEGMENTER_KEY), **params.approach_params)
    gated = consent_gated(params.approach, seg, params.respect_consent)
    return gated.fit(firm_view(params, population, population.customers["in_campaign"].to_numpy()))


def policy_of(params: RunParams) -> Policy:
    """The shared targeting policy's settings of a run."""
    return Policy(
        budget=params.budget,
        older_contact_cap=params.older_contact_cap,
        min_obs=params.min_obs,
        harm_cap=params.harm_cap,
    )


@timed_stage("target")
def target(params: RunParams, population: Population, seg: Segmenter) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Estimate segment values on the campaign (as the firm holds it, `firm_data`), then choose
    actions for the held-out customers."""
    population = firm_data(params, population)
    rng = np.random.default_rng(stage_seed(params.seed, _POLICY_KEY))
    masked = masked_columns(params.purpose, params.purpose_limitation)
    return target_customers(seg, population.history, population.holdout, policy_of(params), rng, masked)


def membership(params: RunParams, population: Population, seg: Segmenter) -> dict:
    """The membership metrics: the canary audit (`mia_audit_eps_lb`, `mia_audit_trials`; none when
    `audit_trials` is 0) and the tracing attack (`tracing_advantage`), both on what the approach releases
    about the customers it was fitted on (behind the consent gate: those with profiling consent; the
    non-members are the held-out customers under the same filter). The audit fits on a seeded sample of
    at most `AUDIT_MAX_FIT` of them (all of them if the approach cannot be fitted on that few). Both read
    the customers as the approach may (`firm_view`)."""
    in_campaign = population.customers["in_campaign"].to_numpy()
    history, holdout = firm_view(params, population, in_campaign), firm_view(params, population, ~in_campaign)
    gated = isinstance(seg, ConsentGate)
    inner = seg.estimator if gated else seg
    members = history[ConsentGate.consents(history)] if gated else history
    non_members = holdout[ConsentGate.consents(holdout)] if gated else holdout
    out = {"mia_audit_eps_lb": math.nan, "mia_audit_trials": 0, "tracing_advantage": math.nan}
    if gated and not seg.fitted_:
        return out
    with reused_feature_tables():  # every frame's features built once: the attack reads them twice, the audit 28 times
        return _membership(params, inner, members, non_members, out)


def _membership(params: RunParams, inner: Segmenter, members: pd.DataFrame, non_members: pd.DataFrame, out: dict):
    """`membership`'s tracing attack and canary audit on the approach's own estimator `inner`; fills `out`."""
    cols = attack_columns(inner.release_, inner.features(members.iloc[:1]).columns)
    rng = np.random.default_rng(stage_seed(params.seed, _TRACING_KEY))
    out["tracing_advantage"] = tracing_attack(
        inner.release_, cols, inner.features, inner.predict, members, non_members, rng
    )["tracing_advantage"]
    if params.audit_trials > 0:

        def fit_release(customers: pd.DataFrame, random_state: int) -> dict:
            seg = make_segmenter(params.approach, random_state=random_state, **params.approach_params)
            return seg.fit(customers).release_

        sample_seed, trials_seed = stage_seed(params.seed, _AUDIT_KEY).spawn(2)
        data = members.iloc[fit_sample(len(members), np.random.default_rng(sample_seed), AUDIT_MAX_FIT)]
        try:
            fit_release(data, 0)
        except ParameterError:  # e.g. kanon with k above the sample: audit on everyone fitted
            data = members
        audit = canary_audit(fit_release, data, make_canary(data), trials_seed, trials=params.audit_trials)
        out.update(mia_audit_eps_lb=audit["mia_audit_eps_lb"], mia_audit_trials=audit["mia_audit_trials"])
        if params.erasure_rate:
            out["erasure_residual_eps_lb"] = erasure_audit(params, fit_release, data, audit)
    return out


def erasure_audit(params: RunParams, fit_release, data: pd.DataFrame, audit: dict) -> float:
    """`erasure_residual_eps_lb`: the canary audit once the canary has asked to be forgotten
    (`kit.run.erasure.after_erasure`). Under ``erasure: none`` the final release is the one that
    counted the canary, so the run's own audit is that audit (the same fits); under ``refit`` the
    audit is run again, on fresh trials, against the refitted release."""
    if params.erasure == "none":
        return audit["mia_audit_eps_lb"]
    seed = stage_seed(params.seed, _ERASURE_AUDIT_KEY)
    refit = after_erasure(fit_release, params.erasure)
    return canary_audit(refit, data, make_canary(data), seed, trials=params.audit_trials)["mia_audit_eps_lb"]


def reference_decisions(
    params: RunParams,
    population: Population,
    decisions: pd.DataFrame,
    segs: dict | None = None,
    references: tuple[str, ...] = ("mass", "oracle"),
) -> dict[str, pd.DataFrame]:
    """Held-out decisions of the run and of the two reference points (mass, oracle), under the same
    policy settings and seed, both without the consent gate (the oracle is the most gain possible); the
    run's own decisions stand in for a reference it is itself (an oracle run behind the gate is not).
    `segs`, if given, receives each reference's fitted segmenter by name."""
    refs = {"policy": decisions}
    for ref in references:
        if ref == params.approach and not (params.respect_consent and ref not in CONSENT_EXEMPT):
            refs[ref] = decisions
            continue
        # The references see everyone: the oracle is the most gain possible, consent or not.
        # Erasure applies to them too: the firm's references are what it could do with the data it holds.
        ref_params = RunParams(approach=ref, approach_params={}, values={**params.values, "respect_consent": False})
        ref_seg = fit_segmenter(ref_params, population)
        if segs is not None:
            segs[ref] = (ref_seg, ref_params)
        refs[ref] = target(ref_params, population, ref_seg)[1]
    return refs


def off_policy(params: RunParams, population, segs: dict, terms: dict | None = None) -> dict:
    """Off-policy estimates of the run's value (and each reference's) from the campaign log,
    cross-fitted (`kit.run.offpolicy`): value_policy_ope with its interval, gain_ope, ...
    `segs`: name -> (fitted segmenter, its run parameters). `terms`, if given, receives the
    per-customer terms and the cross-fitted actions."""
    runs = {name: p for name, (_, p) in segs.items()}

    def view(customers: pd.DataFrame) -> pd.DataFrame:  # as the run's approach reads them (firm_view)
        return firm_view(params, population, population.customers.index.isin(customers.index))

    def refit(name: str, customers: pd.DataFrame) -> Segmenter:  # as fit_segmenter, on these customers
        p = runs[name]
        seg = make_segmenter(p.approach, random_state=stage_int(p.seed, _SEGMENTER_KEY), **p.approach_params)
        return consent_gated(p.approach, seg, p.respect_consent).fit(view(customers))

    fitted = {name: seg for name, (seg, _) in segs.items()}
    got = crossfit_terms(fitted, population.history, policy_of(params), params.seed, refit, view=view)
    if terms is not None:
        terms.update(got)
    return offpolicy_metrics(got, params.seed)


@timed_stage("measure")
def measure(params: RunParams, population: Population, seg: Segmenter, decisions: pd.DataFrame) -> tuple[dict, dict]:
    """All metrics of the run (a flat dict; names as in the README's measurements table) and its
    tables (per-group views, no cell under MIN_CELL customers). Deterministic for a given seed."""
    if isinstance(population, DataTable):
        segs = {"policy": (seg, params)}
        reference_decisions(params, population, decisions, segs, references=("mass",))
        segs.setdefault("mass", (seg, params))
        return measure_without_truth(
            population,
            seg,
            decisions,
            params.older_contact_cap,
            membership(params, population, seg),
            off_policy(params, population, segs),
        )
    firm = firm_data(params, population)  # what the firm holds after erasure requests: what it fitted on
    history, holdout = firm.history, population.holdout
    segs = {"policy": (seg, params)}
    refs = reference_decisions(params, population, decisions, segs)
    for ref in ("mass", "oracle"):
        segs.setdefault(ref, (seg, params))  # the run is itself that reference
    actions = {k: d["action"].cat.codes.to_numpy() for k, d in refs.items()}
    v_pol, v_mass, v_orc = (policy_value(holdout, actions[k]) for k in ("policy", "mass", "oracle"))
    gain_table = gain_by_group(
        holdout, actions, np.random.default_rng(stage_seed(params.seed, _BOOTSTRAP_KEY)), min_cell=MIN_CELL
    )
    overall = gain_table.set_index("grouping").loc["all"] if (gain_table["grouping"] == "all").any() else {}
    labels = decisions["segment"].to_numpy()
    helps = truly_helps(holdout)
    offered = decisions["offered"].to_numpy()
    eligible = decisions["eligible"].to_numpy(dtype=bool)
    hit = offer_beneficial(holdout, actions["policy"])
    groups = {attr: (holdout[col] == unpriv).to_numpy() for attr, (col, unpriv) in FAIRNESS_ATTRS.items()}
    fair = fairness_metrics_many(offered, hit, helps, groups, eligible)
    cells = join_columns(holdout, INTERSECTION)
    fair.update(intersection_metrics(cells, offered, hit, helps, eligible, min_cell=MIN_CELL))
    metrics = {
        "value_policy": v_pol,
        "value_mass": v_mass,
        "value_oracle": v_orc,
        "gain_share": gain_share(v_pol, v_mass, v_orc),
        "gain_share_lo": float(overall.get("gain_share_lo", math.nan)),
        "gain_share_hi": float(overall.get("gain_share_hi", math.nan)),
        "offer_rate": float(offered.mean()),
        "epsilon": seg.epsilon_,
        "n_released_segments": int(seg.n_segments_),
        "min_segment_size": min_segment_size(seg.release_["profiles"]["size"]),
        **off_policy(params, firm, segs),
        **audience_privacy(
            decisions[[f"released_{qi}" for qi in QUASI_IDENTIFIERS]].set_axis(list(QUASI_IDENTIFIERS), axis=1),
            labels,
        ),
        **membership(params, firm, seg),
        **({"erased_customers": int(erased(params, population).sum())} if params.erasure_rate else {}),
    }
    for attr, (col, positive) in FAIRNESS_ATTRS.items():
        ai = attribute_inference(history, seg.labels_, holdout, labels, col, positive, ATTR_INFERENCE_QI[attr])
        r_base = ai["r_base"]

        def to_lift(r: float, r_base: float = r_base) -> float:
            return (r - r_base) / (1 - r_base) if r_base < 1 else math.nan

        metrics.update(
            {
                f"attr_inference_lift_{attr}": ai["lift"],
                f"attr_inference_lift_{attr}_lo": to_lift(ai["r_attack_lo"]),
                f"attr_inference_lift_{attr}_hi": to_lift(ai["r_attack_hi"]),
                f"attr_inference_r_attack_{attr}": ai["r_attack"],
                f"attr_inference_r_base_{attr}": ai["r_base"],
            }
        )
    metrics.update(fair)
    metrics["cap_excluded_older"] = cap_excluded_share(
        holdout["older"].to_numpy(), holdout["contacts_90d"].to_numpy(), params.older_contact_cap
    )
    # Disparate impact over everyone, the contact cap's exclusions included: beside di_older, it
    # shows how much of an older customers' offer gap the cap (a wellbeing protection) makes.
    older = groups["older"]
    rate_older, rate_younger = offered[older].mean() if older.any() else math.nan, offered[~older].mean()
    metrics["di_older_all"] = float(rate_older / rate_younger) if rate_younger > 0 else math.nan
    metrics.update(wellbeing_metrics(holdout, labels, actions["policy"]))
    metrics.update({f"balance_{attr}": segment_balance(labels, mask) for attr, mask in groups.items()})
    metrics.update(
        ethics_checks(
            holdout,
            decisions,
            seg.profiled(holdout),
            seg.descriptions_,
            seg.n_segments_,
            params.older_contact_cap,
            fair,
        )
    )
    longrun_metrics, longrun_tables = simulate(
        params,
        population,  # erasure with horizon > 1 is refused by validate_run: here firm is population
        seg,
        decisions,
        policy_of(params),
        masked_columns(params.purpose, params.purpose_limitation),
        retained(params, population) if params.horizon > 1 else None,
    )
    metrics.update(longrun_metrics)
    metrics.update(rights_metrics(params, seg, labels, seg.profiled(holdout)))
    tables = {
        **longrun_tables,
        "by_age_band_gender": group_table(holdout, decisions, ["age_band", "gender"], min_cell=MIN_CELL),
        "by_older": group_table(holdout, decisions, ["older"], min_cell=MIN_CELL),
        "gain_by_group": gain_table,
        "fairness_by_age_band_gender": fairness_table(holdout, decisions, ["age_band", "gender"], min_cell=MIN_CELL),
        "notices": segment_notices(
            seg,
            labels,
            seg.profiled(holdout),
            masked_columns(params.purpose, params.purpose_limitation),
            params.harm_cap,
        ),
    }
    return metrics, tables


def rights_metrics(params: RunParams, seg: Segmenter, labels: np.ndarray, profiled: np.ndarray) -> dict:
    """Purpose limitation and notices: `purpose_violations` (columns the approach read that were not
    declared for the run's purpose and not hidden from it, plus those the policy read: a finite
    `harm_cap` reads the income band, collected for credit checks), `notice_reading_ease`,
    `notice_truthful`."""
    masked = masked_columns(params.purpose, params.purpose_limitation)
    outside = set(columns_outside_purpose(seg.columns_read_, params.purpose)) - set(masked)
    outside |= set(columns_outside_purpose(policy_columns(seg, params.harm_cap), params.purpose))
    return {
        "purpose_violations": len(outside),
        **notice_metrics(segment_notices(seg, labels, profiled, masked, params.harm_cap)),
    }


def run_experiment(params: RunParams) -> RunResult:
    """Run the whole path for validated parameters."""
    pop = build_population(params)
    seg = fit_segmenter(params, pop)
    seg_values, decisions = target(params, pop, seg)
    metrics, tables = measure(params, pop, seg, decisions)
    return RunResult(params, pop, seg, seg_values, decisions, metrics, tables)

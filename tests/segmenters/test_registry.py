import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from kit.cli import main
from kit.features import FEATURE_SETS, FEATURES, behaviour_features, feature_table
from kit.params import ParameterError
from kit.population import make_population, true_net_values
from kit.run import run_experiment, target, validate_run
from kit.segmenters import MSG_CONSENT_ONLY_RETIRED, REGISTRY, ConsentGate, make_segmenter
from kit.segmenters.rules import RFMSegmenter, condition_words
from kit.vocabulary import TRUTH_COLUMNS

ISSUE_ORDER = [
    "mass",
    "oracle",
    "rfm",
    "kmeans",
    "gmm",
    "tree",
    "unaware",
    "dp_kmeans",
    "kanon",
    "minimised",
    "fair_kmeans",
    "fair_targeting",
]
NOT_ORACLE = [a for a in ISSUE_ORDER if a != "oracle"]


def test_registry_names():
    assert list(REGISTRY) == ISSUE_ORDER


@pytest.fixture(scope="module")
def fitted(small_pop):
    return {name: make_segmenter(name, random_state=0).fit(small_pop.history) for name in REGISTRY}


@pytest.mark.parametrize("name", ISSUE_ORDER)
def test_every_approach_fits_describes_and_releases(name, fitted, small_pop):
    seg = fitted[name]
    labels = seg.predict(small_pop.holdout)
    assert len(labels) == len(small_pop.holdout)
    assert labels.min() >= 0 and labels.max() < seg.n_segments_
    assert seg.labels_.max() < seg.n_segments_
    assert set(seg.descriptions_) == set(range(seg.n_segments_))
    assert all(isinstance(d, str) and d.strip() for d in seg.descriptions_.values())
    sizes = seg.release_["profiles"]["size"]
    assert len(sizes) == seg.n_segments_
    if name != "dp_kmeans":  # dp_kmeans releases noisy sizes (tested in test_dp_kmeans)
        assert sizes.sum() == len(small_pop.history)
        assert (sizes.to_numpy() == np.bincount(seg.labels_, minlength=seg.n_segments_)).all()


@pytest.mark.parametrize("name", ISSUE_ORDER)
def test_sklearn_conventions(name, fitted, small_pop):
    cls = REGISTRY[name]
    sig = inspect.signature(cls).parameters
    params = list(sig)
    assert set(params) - {"random_state"} == set(cls.param_specs)
    for k, spec in cls.param_specs.items():
        assert sig[k].default == spec.default, k
    seg = fitted[name]
    before = seg.get_params()
    fresh = clone(seg)
    assert fresh.get_params() == before
    assert not hasattr(fresh, "labels_")
    fresh.fit(small_pop.history)
    assert fresh.get_params() == before  # fit never changes a parameter
    learned = [a for a in vars(fresh) if a.endswith("_") and not a.startswith("_")]
    assert "labels_" in learned and "release_" in learned and "descriptions_" in learned


@pytest.mark.parametrize("name", ISSUE_ORDER)
def test_same_seed_same_segments_bit_for_bit(name, fitted, small_pop):
    again = make_segmenter(name, random_state=0).fit(small_pop.history)
    assert (again.predict(small_pop.holdout) == fitted[name].predict(small_pop.holdout)).all()
    a, b = again.release_["profiles"], fitted[name].release_["profiles"]
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert again.descriptions_ == fitted[name].descriptions_


@pytest.mark.parametrize("name", NOT_ORACLE)
def test_blind_to_truth(name, fitted, small_pop):
    blind = make_segmenter(name, random_state=0).fit(small_pop.history.drop(columns=list(TRUTH_COLUMNS)))
    holdout = small_pop.holdout.drop(columns=list(TRUTH_COLUMNS))
    assert (blind.predict(holdout) == fitted[name].predict(small_pop.holdout)).all()


def test_feature_sets_documented_design():
    assert FEATURE_SETS["aware"] == (*FEATURES, "age", "gender_female", "income_band")
    assert FEATURE_SETS["unaware"] == (*FEATURES, "income_band")
    assert FEATURE_SETS["minimal"] == ("log_recency", "log_frequency", "log_monetary", "engagement")
    assert REGISTRY["kmeans"].feature_set == "aware" and REGISTRY["gmm"].feature_set == "aware"
    assert REGISTRY["unaware"].feature_set == "unaware"
    assert REGISTRY["minimised"].feature_set == "minimal"


def test_feature_table_values(small_pop):
    h = small_pop.history.head(50)
    t = feature_table(h, "aware")
    assert np.allclose(t["log_recency"], np.log1p(h["recency_days"]))
    assert (t["age"].to_numpy() == h["age"].to_numpy()).all()
    assert (t["gender_female"].to_numpy() == (h["gender"].astype(str) == "female").to_numpy()).all()
    assert (t["income_band"].to_numpy() == h["income_band"].cat.codes.to_numpy()).all()
    ch = t[[f"channel_{c}" for c in ("email", "web", "store", "phone")]].to_numpy()
    assert (ch.sum(axis=1) == 1).all()


def _scramble_protected(customers: pd.DataFrame, seed: int) -> pd.DataFrame:
    out = customers.copy()
    rng = np.random.default_rng(seed)
    for col in ("age", "gender"):
        out[col] = out[col].to_numpy()[rng.permutation(len(out))]
    return out


def test_unaware_ignores_protected_attributes_but_kmeans_reads_them(small_pop, fitted):
    h, hold = small_pop.history, small_pop.holdout
    un = make_segmenter("unaware", random_state=0).fit(_scramble_protected(h, 1))
    assert (un.predict(_scramble_protected(hold, 2)) == fitted["unaware"].predict(hold)).all()
    km = make_segmenter("kmeans", random_state=0).fit(_scramble_protected(h, 1))
    assert (km.predict(hold) != fitted["kmeans"].predict(hold)).any()
    assert "age" not in un.release_["centroids"].columns and "gender_female" not in un.release_["centroids"].columns


def test_unaware_proxies_still_leak():
    """Unawareness does not balance segments: behaviour is a proxy of age (proxy_strength 0.5)."""
    from kit.measures import segment_balance

    pop = make_population(20_000, random_state=3)
    seg = make_segmenter("unaware", random_state=0).fit(pop.history)
    older = pop.history["older"].to_numpy()
    assert segment_balance(seg.labels_, older) < 0.5 * segment_balance(np.zeros(len(older)), older)


def test_minimised_reads_only_its_declared_features(small_pop, fitted):
    seg = fitted["minimised"]
    assert seg.feature_names_ == ["log_recency", "log_frequency", "log_monetary", "engagement"]
    h = small_pop.history.copy()
    h["tenure_months"] = 1
    h["channel"] = "web"
    h["aff_grocery"] = 0.5
    again = make_segmenter("minimised", random_state=0).fit(h)
    assert (again.labels_ == seg.labels_).all()


def test_mass_is_one_segment_and_profiles_no_one(fitted, small_pop):
    seg = fitted["mass"]
    assert seg.n_segments_ == 1
    assert not seg.profiled(small_pop.holdout).any()


def test_kmeans_centroids_in_feature_units(fitted, small_pop):
    seg = fitted["kmeans"]
    assert seg.n_segments_ == 6
    cent = seg.release_["centroids"]
    assert list(cent.columns) == list(FEATURE_SETS["aware"])
    # Each centroid is the mean of the customers k-means put in its cluster (natural units).
    feats = seg.features(small_pop.history).to_numpy()
    for s in range(seg.n_segments_):
        assert np.allclose(cent.iloc[s].to_numpy(), feats[seg.labels_ == s].mean(axis=0), atol=1e-6)
    assert list(behaviour_features(small_pop.holdout).columns) == list(FEATURES)


def test_oracle_segment_is_true_best_action(fitted, small_pop):
    assert (fitted["oracle"].predict(small_pop.holdout) == true_net_values(small_pop.holdout).argmax(axis=1)).all()


def test_gmm_releases_component_means_and_weights(fitted):
    rel = fitted["gmm"].release_
    assert rel["centroids"].shape == (6, len(FEATURE_SETS["aware"]))
    assert abs(rel["mixture_weights"].sum() - 1.0) < 1e-9


# --- RFM ----------------------------------------------------------------------------------------


def _rfm_frame():
    return pd.DataFrame(
        {
            "recency_days": [1, 2, 3, 4, 50, 60, 70, 80],
            "frequency": [10, 20, 1, 2, 10, 20, 1, 2],
            "monetary": [5.0, 500.0, 5.0, 500.0, 5.0, 500.0, 5.0, 500.0],
        }
    )


def test_rfm_hand_computed():
    df = _rfm_frame()
    seg = RFMSegmenter(n_bins=2).fit(df)
    # "higher" medians (observed values): recency 50, frequency 10, monetary 500;
    # R = 1 below 50 days (recent), F = 1 from 10 purchases, M = 1 from 500.
    assert seg.edges_["recency_days"].tolist() == [50.0]
    assert seg.edges_["frequency"].tolist() == [10.0]
    assert seg.edges_["monetary"].tolist() == [500.0]
    r = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    f = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    m = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    assert seg.labels_.tolist() == (r * 4 + f * 2 + m).tolist()
    assert seg.n_segments_ == 8
    assert seg.descriptions_[7] == (
        "Champions (R2 F2 M2): last purchase under 50 days ago, 10 or more purchases a year, "
        "spend 500 or more per purchase; 12% of customers."
    )
    assert seg.descriptions_[0] == (
        "Hibernating (R1 F1 M1): last purchase 50 or more days ago, under 10 purchases a year, "
        "spend under 500 per purchase; 12% of customers."
    )
    assert list(seg.release_["rules"]["rule"])[5] == (
        "last purchase under 50 days ago, under 10 purchases a year, spend 500 or more per purchase"
    )


def test_rfm_scores_are_quantile_bins(small_pop):
    seg = make_segmenter("rfm", n_bins=3).fit(small_pop.history)
    r_score = seg.labels_ // 9
    # Recency is nearly continuous, so each R score holds about a third of the customers.
    shares = np.bincount(r_score, minlength=3) / len(r_score)
    assert np.all(np.abs(shares - 1 / 3) < 0.02)
    recent = small_pop.history["recency_days"].to_numpy()
    assert recent[r_score == 2].max() <= recent[r_score == 0].min()


# --- Tree ---------------------------------------------------------------------------------------


def test_tree_splits_where_the_lift_changes(small_pop):
    """Booked value depends on engagement alone: engaged customers buy after a discount, the rest
    after loyalty points. A depth-1 tree must split on engagement near 0.5 and say so in words."""
    h = small_pop.history.copy()
    engaged = h["engagement"].to_numpy() > 0.5
    act = h["hist_action"].astype(str).to_numpy()
    h["hist_value"] = np.where(engaged, np.where(act == "discount", 30.0, 0.0), np.where(act == "loyalty", 30.0, 0.0))
    seg = make_segmenter("tree", random_state=0, max_depth=1).fit(h)
    assert seg.n_segments_ == 2
    t = seg.tree_.tree_
    assert seg.feature_names_[t.feature[0]] == "engagement"
    assert abs(t.threshold[0] - 0.5) < 0.01
    rules = list(seg.release_["rules"]["rule"])
    assert rules == ["share of messages engaged with at most 50%", "share of messages engaged with over 50%"]
    assert (seg.labels_ == engaged.astype(int)).mean() > 0.99


def test_tree_rules_in_words():
    assert condition_words("log_recency", None, np.log1p(30.0)) == "days since the last purchase at most 30"
    assert condition_words("age", 64.5, None) == "age over 64"
    assert condition_words("income_band", 1.5, 3.5) == "income band middle to upper-middle"
    assert condition_words("gender_female", None, 0.5) == "men"
    assert condition_words("channel_web", 0.5, None) == "prefer web"
    assert condition_words("aff_home", 0.2, 0.45) == "share of spend on home over 20% and at most 45%"


def test_tree_needs_the_campaign(small_pop):
    with pytest.raises(ValueError, match="tree: needs the campaign column 'hist_value' to fit"):
        make_segmenter("tree").fit(small_pop.history.drop(columns=["hist_value"]))


# --- Consent ------------------------------------------------------------------------------------


def _gated(small_pop, approach="kmeans", history=None):
    return ConsentGate(make_segmenter(approach, random_state=0)).fit(small_pop.history if history is None else history)


def test_consent_gate_never_profiles_without_consent(small_pop):
    seg = _gated(small_pop)
    for part in (small_pop.history, small_pop.holdout):
        consent = part["profiling_consent"].to_numpy()
        assert (seg.profiled(part) == consent).all()
        labels = seg.predict(part)
        assert (labels[~consent] == 6).all() and (labels[consent] < 6).all()
    assert seg.mass_segments_ == (6,) and seg.n_segments_ == 7
    assert seg.descriptions_[6].startswith("Not profiled (no profiling consent): ")
    assert seg.release_["profiles"].loc[6].drop("size").isna().all()  # nothing released about them
    assert seg.release_["profiles"].loc[6, "size"] == int((~small_pop.history["profiling_consent"]).sum())


def test_consent_gate_does_not_read_non_consenting_customers(small_pop):
    """Rewriting every non-consenting customer's personal data changes nothing at all."""
    h = small_pop.history.copy()
    no = ~h["profiling_consent"].to_numpy()
    h.loc[no, "monetary"] = 9999.0
    h.loc[no, "age"] = 99
    h.loc[no, "channel"] = "phone"
    seg, ref = _gated(small_pop, history=h), _gated(small_pop)
    assert (seg.labels_ == ref.labels_).all()
    pd.testing.assert_frame_equal(seg.release_["centroids"], ref.release_["centroids"], check_exact=True)
    pd.testing.assert_frame_equal(seg.release_["profiles"], ref.release_["profiles"], check_exact=True)
    assert seg.descriptions_ == ref.descriptions_


def test_consent_gate_without_any_consent_is_mass(small_pop):
    h = small_pop.history.copy()
    h["profiling_consent"] = False
    seg = _gated(small_pop, history=h)
    assert seg.n_segments_ == 1 and (seg.predict(small_pop.holdout) == 0).all()
    assert not seg.profiled(small_pop.holdout).any()


def test_consent_gate_forwards_the_estimator(small_pop):
    seg = _gated(small_pop, "dp_kmeans")
    assert seg.epsilon_ == 1.0 and seg.ledger_ is seg.estimator.ledger_ and seg.name == "dp_kmeans"
    fair = _gated(small_pop, "fair_targeting")
    assert fair.targeting == "parity" and fair.protected == "older"


@pytest.mark.parametrize("approach", list(REGISTRY))
def test_consent_violations_zero_in_every_run_respecting_consent(approach):
    r = run_experiment(validate_run({"approach": approach, "n_customers": 4000, "seed": 1, "audit_trials": 0}))
    assert r.metrics["consent_violations"] == 0
    assert r.metrics["undescribed_segments"] == 0
    no = ~r.population.holdout["profiling_consent"].to_numpy()
    if approach != "mass":  # every customer without consent gets the not-profiled segment
        assert len(set(r.decisions["segment"].to_numpy()[no])) == 1


def test_ignoring_consent_profiles_customers_without_it():
    r = run_experiment(
        validate_run(
            {"approach": "kmeans", "n_customers": 4000, "seed": 1, "respect_consent": False, "audit_trials": 0}
        )
    )
    assert r.metrics["consent_violations"] == int((~r.population.holdout["profiling_consent"]).sum()) > 0
    assert not isinstance(r.segmenter, ConsentGate)


def test_not_profiled_segment_gets_the_mass_estimate():
    params = validate_run({"approach": "kmeans", "n_customers": 4000, "seed": 2, "audit_trials": 0})
    from kit.run import build_population, fit_segmenter

    pop = build_population(params)
    seg = fit_segmenter(params, pop)
    values, decisions = target(params, pop, seg)
    mass_params = validate_run({"approach": "mass", "n_customers": 4000, "seed": 2})
    mass_values, _ = target(mass_params, pop, fit_segmenter(mass_params, pop))
    assert values.loc[6, "fallback"]
    assert (
        values.loc[6, ["none", "discount", "loyalty", "new_product"]].tolist()
        == mass_values.loc[0, ["none", "discount", "loyalty", "new_product"]].tolist()
    )


def test_oracle_reference_sees_everyone():
    """An oracle run behind the gate gains less than the oracle reference, which ignores consent."""
    r = run_experiment(validate_run({"approach": "oracle", "n_customers": 4000, "seed": 1, "audit_trials": 0}))
    assert r.metrics["consent_violations"] == 0 and 0 < r.metrics["gain_share"] < 1


def test_retired_consent_only_points_to_respect_consent():
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "consent_only"})
    assert str(e.value) == "parameters.approach: " + MSG_CONSENT_ONLY_RETIRED
    assert MSG_CONSENT_ONLY_RETIRED == (
        "consent_only was retired: every approach now fits on and profiles only customers with profiling consent "
        "(the others get the mass treatment); use kmeans, and the run parameter respect_consent (default true; "
        "false shows what ignoring consent would buy)"
    )


# --- Parameters and their errors ----------------------------------------------------------------


def test_kmeans_parameter_checked_in_fit(small_pop):
    seg = make_segmenter("kmeans")
    seg.n_clusters = 0
    with pytest.raises(
        ParameterError, match=r"kmeans.n_clusters: 0 is out of range; expected an integer >= 1 and <= 50"
    ):
        seg.fit(small_pop.history)


@pytest.mark.parametrize(
    "approach, params, message",
    [
        (
            "dp_kmeans",
            {"epsilon": 0},
            "approach_params.epsilon: 0.0 is out of range; expected a number > 0 and <= 100 (or inf)",
        ),
        (
            "dp_kmeans",
            {"feature_set": "all"},
            "approach_params.feature_set: 'all' is not allowed; expected one of 'behaviour', 'aware', 'unaware', 'minimal'",
        ),
        ("kanon", {"k": 1}, "approach_params.k: 1 is out of range; expected an integer >= 2 and <= 100000"),
        (
            "fair_kmeans",
            {"balance_target": 1.5},
            "approach_params.balance_target: 1.5 is out of range; expected a number > 0 and <= 1",
        ),
        (
            "fair_targeting",
            {"protected": "age"},
            "approach_params.protected: 'age' is not allowed; expected one of 'older', 'gender'",
        ),
        (
            "gmm",
            {"covariance_type": "tied"},
            "approach_params.covariance_type: 'tied' is not allowed; expected one of 'diag', 'full', 'spherical'",
        ),
        ("rfm", {"n_bins": 2.5}, "approach_params.n_bins: expected an integer >= 2 and <= 5, got float 2.5"),
        (
            "tree",
            {"min_leaf_share": 0},
            "approach_params.min_leaf_share: 0.0 is out of range; expected a number > 0 and <= 0.5",
        ),
    ],
)
def test_bad_parameter_values_named(approach, params, message):
    with pytest.raises(ParameterError) as e:
        make_segmenter(approach, **params)
    assert str(e.value) == message


def test_bad_values_set_after_construction_caught_in_fit(small_pop):
    seg = make_segmenter("dp_kmeans")
    seg.epsilon = -1.0
    with pytest.raises(ParameterError) as e:
        seg.fit(small_pop.history)
    assert str(e.value) == "dp_kmeans.epsilon: -1.0 is out of range; expected a number > 0 and <= 100 (or inf)"
    seg = make_segmenter("kmeans", random_state=0)
    seg.random_state = "seven"
    with pytest.raises(ParameterError) as e:
        seg.fit(small_pop.history)
    assert str(e.value) == "kmeans.random_state: expected None or an integer >= 0, got 'seven'"


def test_unknown_approach_and_parameter_named():
    with pytest.raises(ParameterError) as e:
        make_segmenter("dbscan")
    assert str(e.value) == (
        "approach: unknown approach 'dbscan'; expected one of mass, oracle, rfm, kmeans, gmm, tree, unaware, "
        "dp_kmeans, kanon, minimised, fair_kmeans, fair_targeting"
    )
    with pytest.raises(
        ParameterError, match="approach_params.eps: unknown parameter of approach 'mass'; allowed: none"
    ):
        make_segmenter("mass", eps=1.0)
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "dp_kmeans", "approach_params": {"eps": 1.0}})
    assert str(e.value) == (
        "parameters.approach_params.eps: unknown parameter of approach 'dp_kmeans'; "
        "allowed: n_clusters, epsilon, n_iter, hist_share, clip, feature_set"
    )


def test_epsilon_inf_accepted_from_text():
    p = validate_run({"approach": "dp_kmeans", "approach_params": {"epsilon": "inf"}})
    assert p.approach_params["epsilon"] == float("inf")


def test_crmkit_approaches_lists_every_parameter(capsys):
    assert main(["approaches"]) == 0
    out = capsys.readouterr().out
    for name, cls in REGISTRY.items():
        assert f"\n{name}: {cls.summary}\n" in f"\n{out}"
        for k, spec in cls.param_specs.items():
            assert (
                f"    {k} ({spec.type.__name__}, default {spec.default!r}): {spec.doc}; allowed: {spec.allowed()}"
                in out
            )
    assert (
        "    epsilon (float, default 1.0): privacy budget of the whole release (inf: no noise); "
        "allowed: a number > 0 and <= 100 (or inf)" in out
    )


def test_readme_documents_every_approach():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("## The approaches") : readme.index("## The measurements")]
    for name, cls in REGISTRY.items():
        row = next((line for line in table.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, name
        for k in cls.param_specs:
            assert f"`{k}`" in row or ("as `kmeans`" in row and k in REGISTRY["kmeans"].param_specs), (name, k)


@pytest.mark.parametrize("name", ISSUE_ORDER)
def test_every_approach_runs_end_to_end(name):
    r = run_experiment(validate_run({"approach": name, "n_customers": 4000, "seed": 5}))
    m = r.metrics
    assert np.isfinite(m["gain_share"]) and m["undescribed_segments"] == 0 and m["fatigue_violations"] == 0
    assert m["epsilon"] == (1.0 if name == "dp_kmeans" else float("inf"))
    assert m["offer_rate"] <= 0.5  # the budget
    assert m["n_released_segments"] == r.segmenter.n_segments_
    if name == "kanon":
        assert m["min_audience_class"] >= 50


def test_reused_feature_tables_build_each_frame_once_and_hand_out_copies(small_pop, monkeypatch):
    """Inside `reused_feature_tables` (the canary audit's 28 fits on two frames) a frame's feature table
    is built once per feature set; every fit gets the same values, a caller's change to its table does
    not reach the next caller, and outside the block nothing is kept."""
    import kit.features as features

    built = []
    real = features._feature_table
    monkeypatch.setattr(features, "_feature_table", lambda c, s: built.append((id(c), s)) or real(c, s))
    a, b = small_pop.history.iloc[:300], small_pop.history.iloc[300:600]
    expected = real(a, "aware")
    with features.reused_feature_tables():
        first = feature_table(a, "aware")
        first.iloc[0, 0] = -1.0  # the caller's own copy
        for _ in range(3):
            pd.testing.assert_frame_equal(feature_table(a, "aware"), expected)
        feature_table(b, "aware")
        feature_table(a, "behaviour")
        kmeans = [make_segmenter("kmeans", random_state=r).fit(a).release_["profiles"] for r in (1, 2)]
    assert built == [(id(a), "aware"), (id(b), "aware"), (id(a), "behaviour")]
    pd.testing.assert_frame_equal(kmeans[0], make_segmenter("kmeans", random_state=1).fit(a).release_["profiles"])
    before = len(built)
    feature_table(a, "aware")
    feature_table(a, "aware")
    assert len(built) == before + 2  # outside the block: built every time

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from kit.population import COLUMN_DOCS, make_population, true_net_values
from kit.vocabulary import ACTIONS, BEHAVIOUR, FIRM_COLUMNS, TRUTH_COLUMNS


def test_same_seed_same_table_bit_for_bit():
    a = make_population(3_000, random_state=11)
    b = make_population(3_000, random_state=11)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    assert a.fingerprint() == b.fingerprint()


def test_other_seed_other_table():
    assert make_population(3_000, random_state=1).fingerprint() != make_population(3_000, random_state=2).fingerprint()


def test_every_contract_column_present_and_documented(small_pop):
    cols = set(small_pop.customers.columns)
    assert set(FIRM_COLUMNS) | set(TRUTH_COLUMNS) == cols
    assert set(COLUMN_DOCS) == cols
    for a in ACTIONS:
        p = small_pop.customers[f"p_{a}"]
        assert ((p > 0) & (p < 1)).all()


def test_campaign_and_holdout_are_disjoint_and_cover(small_pop):
    h, o = small_pop.history, small_pop.holdout
    assert len(h) + len(o) == len(small_pop.customers)
    assert set(h["customer_id"]).isdisjoint(o["customer_id"])
    assert small_pop.customers["customer_id"].is_unique
    # Only campaign customers have a campaign action.
    assert o["hist_action"].isna().all() and h["hist_action"].notna().all()


@pytest.mark.parametrize(
    "knob,value", [("proxy_strength", 1.5), ("consent_rate", -0.1), ("n_segments", 1), ("older_share", 0.0)]
)
def test_out_of_range_knob_is_named(knob, value):
    with pytest.raises(ValueError, match=knob):
        make_population(2_000, **{knob: value})


def test_consent_rate_within_one_point_at_100k():
    pop = make_population(100_000, consent_rate=0.63, random_state=3)
    assert abs(pop.customers["profiling_consent"].mean() - 0.63) < 0.01


def _auc(df, target):
    X = pd.get_dummies(df[list(BEHAVIOUR)], columns=["channel"]).astype(float)
    y = (df["older"] if target == "older" else df["gender"] == "male").to_numpy()
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=0)
    clf = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(Xa, ya)
    return roc_auc_score(yb, clf.predict_proba(Xb)[:, 1])


@pytest.mark.slow
@pytest.mark.parametrize("target", ["older", "gender"])
def test_proxy_strength_zero_behaviour_reveals_nothing(target):
    df = make_population(50_000, proxy_strength=0.0, random_state=5).customers
    assert abs(_auc(df, target) - 0.5) <= 0.03


@pytest.mark.slow
@pytest.mark.parametrize("target", ["older", "gender"])
def test_proxy_strength_one_behaviour_reveals_group(target):
    df = make_population(50_000, proxy_strength=1.0, random_state=5).customers
    assert _auc(df, target) >= 0.8


def _contact_response_by_contacts(df):
    older = df[df["older"]]
    return older.groupby("contacts_90d")["p_discount"].mean()


def test_older_fatigue_lowers_older_response_as_contacts_rise():
    df = make_population(60_000, older_fatigue=0.5, random_state=2).customers
    r = _contact_response_by_contacts(df)
    r = r[r.index <= 6]
    assert (np.diff(r.to_numpy()) < 0).all()


def test_no_fatigue_no_fall():
    # Without fatigue, p for older customers does not depend on the contacts count beyond the
    # segment mix: regressing logit p on contacts within each latent segment gives a flat slope.
    df = make_population(60_000, older_fatigue=0.0, random_state=2).customers
    older = df[df["older"]]
    logit = np.log(older["p_discount"] / (1 - older["p_discount"]))
    slopes = []
    for _, g in older.assign(logit=logit).groupby("latent_segment"):
        if g["contacts_90d"].nunique() > 2 and len(g) > 200:
            slopes.append(np.polyfit(g["contacts_90d"], g["logit"], 1)[0])
    assert slopes and max(abs(s) for s in slopes) < 0.05


def test_label_bias_drops_only_older_responses():
    a = make_population(20_000, label_bias=0.0, random_state=4).customers
    b = make_population(20_000, label_bias=0.6, random_state=4).customers
    # The truth is untouched; only older customers' recorded responses drop.
    assert (a["hist_true_response"] == b["hist_true_response"]).all()
    young = ~b["older"]
    assert (a.loc[young, "hist_response"] == b.loc[young, "hist_response"]).all()
    rec_a = a.loc[a["older"] & a["hist_true_response"], "hist_response"].mean()
    rec_b = b.loc[b["older"] & b["hist_true_response"], "hist_response"].mean()
    assert rec_a == 1.0 and abs(rec_b - 0.4) < 0.05
    assert not (b["hist_response"] & ~b["hist_true_response"]).any()


def test_true_net_values_hand_computed():
    df = pd.DataFrame({f"p_{a}": [0.5] for a in ACTIONS} | {f"v_{a}": [10.0] for a in ACTIONS})
    # p * v - cost: none costs 0, discount 2, loyalty 1, new_product 0.5.
    assert true_net_values(df).tolist() == [[5.0, 3.0, 4.0, 4.5]]


def test_history_and_holdout_are_selected_once_and_callers_changes_stay_their_own():
    pop = make_population(2_000, random_state=3)
    h = pop.history
    h["scratch"] = 1  # a caller adding a column or changing a value
    h.loc[h.index[0], "monetary"] = -5.0
    again = pop.history
    assert "scratch" not in again.columns and again["monetary"].iloc[0] != -5.0
    mask = pop.customers["in_campaign"].to_numpy()
    pd.testing.assert_frame_equal(again, pop.customers[mask])
    pd.testing.assert_frame_equal(pop.holdout, pop.customers[~mask])


def test_fingerprint_is_the_same_as_with_categorised_hashing():
    """The fingerprint hashes without factorising strings first (faster for unique ids); fingerprints
    recorded before that change still match: the same sha256 as hashing with pandas' default
    categorize=True, for the generator's table and for one with repeated strings."""
    import hashlib

    from kit.population.fingerprint import fingerprint

    def categorised(df: pd.DataFrame) -> str:
        h = hashlib.sha256()
        h.update(repr([(c, str(df[c].dtype)) for c in df.columns]).encode())
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
        return h.hexdigest()

    customers = make_population(3_000, random_state=5).customers
    repeated = pd.DataFrame({"city": ["Leeds", "York", "Leeds", None] * 50, "n": range(200)})
    assert fingerprint(customers) == categorised(customers)
    assert fingerprint(repeated) == categorised(repeated)


def test_row_hashes_on_two_threads_are_pandas_row_hashes():
    """Tables of a million rows or more are fingerprinted column by column on two threads; the row
    hashes must be pandas' own, byte for byte, whatever the columns (none, one, strings with missing
    values, fewer or more columns than are hashed ahead), so a fingerprint never depends on the size
    path it took."""
    from kit.population.fingerprint import _row_hashes

    customers = make_population(3_000, random_state=5).customers
    cases = [
        customers,
        customers.iloc[:0],
        customers[["age"]],
        customers.iloc[:, :3],
        pd.DataFrame(index=range(5)),
        pd.DataFrame({"city": ["Leeds", "York", "Leeds", None] * 50, "n": range(200)}),
    ]
    for df in cases:
        for categorize in (True, False):
            expected = pd.util.hash_pandas_object(df, index=False, categorize=categorize).to_numpy()
            got = _row_hashes(df, categorize)
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (df.shape, categorize)


# Fingerprints of populations made by the generator before it drew columns block by block and
# categorical draws group by group (commit 5063333): the rewrite must not change a single value, since
# every result and number in the README names the population it came from. 65,537 rows cross a block
# boundary. A numpy upgrade that changes its random streams would fail here too, and should: the
# populations, and so every recorded result, would be different.
RECORDED_FINGERPRINTS = {
    (20_000, 0, ()): "291b138a72faaa9ed9ef68a1793ebec1d8de082f38fb30441b4abfeaf9e8613a",
    (20_000, 7, (("proxy_strength", 1.0),)): "17b1357fbde60146792ee551c571ff86e766063379cc4eca118141ebe15942d1",
    (65_537, 2, (("n_segments", 3),)): "78b559986a37c9e5b2680b3781532aaba1ced48262859ed76fb925d2404d814f",
}


@pytest.mark.parametrize("case", list(RECORDED_FINGERPRINTS), ids=str)
def test_population_is_the_one_recorded(case):
    n, seed, knobs = case
    assert make_population(n, random_state=seed, **dict(knobs)).fingerprint() == RECORDED_FINGERPRINTS[case]

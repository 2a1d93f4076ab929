"""Customer tables from files and SQL: mapping checks, table checks (word for word), identical encodings."""

import copy

import duckdb
import numpy as np
import pandas as pd
import pytest

from kit.params import ParameterError
from kit.population import make_population
from kit.sources import DATA_ATTR, DataSourceError, load_table, parse_data
from kit.vocabulary import TRUTH_COLUMNS
from tests.conftest import set_rows

BLOCK = {
    "source": "customers.parquet",
    "id": "customer_id",
    "protected": ["older", "gender"],
    "quasi_identifiers": ["age_band", "gender", "postcode_area", "income_band"],
    "features": ["recency_days", "frequency", "monetary", "tenure_months", "engagement", "contacts_90d", "channel"],
    "consent": "profiling_consent",
    "marketing_consent": "marketing_consent",
    "campaign": {
        "member": "in_campaign",
        "action": "hist_action",
        "response": "hist_response",
        "value": "hist_value",
        "propensity": 0.25,
    },
    "actions": {"none": 0, "discount": 2, "loyalty": 1, "new_product": 0.5},
}


@pytest.fixture(scope="module")
def exported():
    """A generated population with the truth columns dropped, as a researcher's export would be."""
    pop = make_population(3000, random_state=11)
    return pop.customers.drop(columns=list(TRUTH_COLUMNS))


def _write(df: pd.DataFrame, tmp_path, kind: str) -> dict:
    if kind == "csv":
        df.to_csv(tmp_path / "customers.csv", index=False)
        return {"source": "customers.csv"}
    if kind == "parquet":
        df.to_parquet(tmp_path / "customers.parquet", index=False)
        return {"source": "customers.parquet"}
    con = duckdb.connect(str(tmp_path / "crm.db"))
    plain = df.assign(
        **{
            c: df[c].astype(str).where(df[c].notna(), None)
            for c in df.columns
            if isinstance(df[c].dtype, pd.CategoricalDtype)
        }
    )
    con.register("plain", plain)
    con.execute("CREATE TABLE customers AS SELECT * FROM plain")
    con.close()
    return {"source": {"url": "duckdb:///crm.db", "table": "customers"}}


def _load(df, tmp_path, kind="parquet", **changes):
    block = copy.deepcopy(BLOCK)
    block.update(_write(df, tmp_path, kind))
    for k, v in changes.items():
        if k.startswith("campaign."):
            block["campaign"][k.split(".", 1)[1]] = v
        else:
            block[k] = v
    return load_table(parse_data(block, tmp_path))


def test_csv_parquet_and_duckdb_give_the_same_encoded_table(exported, tmp_path):
    tables = {}
    for kind in ("csv", "parquet", "duckdb"):
        d = tmp_path / kind
        d.mkdir()
        tables[kind] = _load(exported, d, kind)
    ref = tables["parquet"]
    for kind, t in tables.items():
        pd.testing.assert_frame_equal(t.customers, ref.customers, check_exact=True)
        assert t.fingerprint() == ref.fingerprint(), kind
        assert t.customers.attrs[DATA_ATTR] == ref.customers.attrs[DATA_ATTR]
    c = ref.customers
    assert len(ref.history) + len(ref.holdout) == len(exported) and len(ref.history) > 0
    assert not set(TRUTH_COLUMNS) & set(c.columns)
    assert c.attrs[DATA_ATTR]["categorical"] == {"channel": ["email", "phone", "store", "web"]}
    assert c["monetary"].dtype == np.float64 and c["older"].dtype == bool
    assert (c.loc[c["in_campaign"], "hist_propensity"] == 0.25).all()
    assert c.loc[~c["in_campaign"], "hist_propensity"].isna().all()


# Ten (and more) malformed tables or mappings, each with its message word for word.
def _bad_rows(df, col, rows, value):
    return set_rows(df, col, rows, value)


def _first_campaign(df, k):
    return list(np.flatnonzero(df["in_campaign"].to_numpy())[:k])


TABLE_CASES = {
    "missing column": (
        lambda df: df.drop(columns=["monetary"]),
        {},
        ["monetary: not in the table (declared as data.features)"],
    ),
    "undeclared source column": (
        lambda df: df,
        {"features": ["monetary", "shoe_size"]},
        ["shoe_size: not in the table (declared as data.features)"],
    ),
    "wrong type of a protected attribute": (
        lambda df: df,
        {"protected": ["age", "gender"]},
        ["age: a protected attribute must be bool or text, got int16"],
    ),
    "duplicate ids": (
        lambda df: _bad_rows(df, "customer_id", [1, 2], df["customer_id"].iloc[0]),
        {},
        ["customer_id: duplicated ids (3 rows)"],
    ),
    "empty table": (lambda df: df.iloc[:0], {}, ["customer_id: the table has no rows"]),
    "missing values": (lambda df: _bad_rows(df, "monetary", [3, 4], np.nan), {}, ["monetary: missing values (2 rows)"]),
    "infinite values": (lambda df: _bad_rows(df, "monetary", [5], np.inf), {}, ["monetary: infinite values (1 row)"]),
    "action outside the catalogue": (
        lambda df: _bad_rows(df, "hist_action", _first_campaign(df, 2), "gift"),
        {},
        ["hist_action: actions not in data.actions: gift (2 rows)"],
    ),
    "action missing in the log": (
        lambda df: _bad_rows(df, "hist_action", _first_campaign(df, 1), None),
        {},
        ["hist_action: missing values (1 row)"],
    ),
    "propensity column with a zero": (
        lambda df: df.assign(prop=np.where(np.arange(len(df)) < 40, 0.0, 0.25)),
        {"campaign.propensity": "prop"},
        [f"prop: propensities outside (0, 1] ({0} rows)"],
    ),
    "consent not bool": (
        lambda df: df.assign(profiling_consent=np.where(df["profiling_consent"], "yes", "no")),
        {},
        ["profiling_consent: the consent column must be bool, got str"],
    ),
    "value without a response": (
        lambda df: _bad_rows(
            df,
            "hist_value",
            list(np.flatnonzero(df["in_campaign"].to_numpy() & ~df["hist_response"].to_numpy())[:3]),
            5.0,
        ),
        {},
        ["hist_value: non-zero without a recorded response (3 rows)"],
    ),
    "a protected attribute with one value": (
        lambda df: df.assign(older=False),
        {},
        ["older: only one value (False); a protected attribute needs at least two groups"],
    ),
    "everyone in the campaign": (
        lambda df: df.assign(in_campaign=True, hist_action=df["hist_action"].astype(object).fillna("none")),
        {},
        ["in_campaign: every customer is in the campaign; none is left to target and measure on"],
    ),
    "a reserved name as a feature": (
        lambda df: df.assign(hist_propensity=1.0),
        {"features": ["monetary", "hist_propensity"]},
        [
            "hist_propensity: the kit uses this name for its own campaign propensity column; "
            "rename the column (in the file or the query)"
        ],
    ),
}


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_malformed_tables_are_refused_naming_the_column(exported, tmp_path, case):
    make, changes, expected = TABLE_CASES[case]
    df = make(exported)
    if case == "propensity column with a zero":
        n_bad = int((df["prop"].to_numpy() == 0)[df["in_campaign"].to_numpy()].sum())
        expected = [f"prop: propensities outside (0, 1] ({n_bad} rows)"]
    with pytest.raises(DataSourceError) as err:
        _load(df, tmp_path, **changes)
    assert err.value.problems == expected


MAPPING_CASES = {
    "propensity 0": (
        {"campaign.propensity": 0},
        "data.campaign.propensity: 0 is out of range; expected a number > 0 and <= 1, or a column name",
    ),
    "unknown key": (
        {"segments": 3},
        "data.segments: unknown key; allowed: source, id, protected, quasi_identifiers, "
        "features, consent, marketing_consent, campaign, actions",
    ),
    "features not a list": ({"features": "monetary"}, "data.features: expected a list of column names, got 'monetary'"),
    "a column in two roles": (
        {"features": ["monetary", "profiling_consent"]},
        "data.features: 'profiling_consent' is also data.consent; a column has one role "
        "(id, consent and campaign columns are not features)",
    ),
    "another action catalogue": (
        {"actions": {"none": 0, "sms": 0.1}},
        "data.actions: expected the kit's action catalogue with its contact costs, {none: 0, "
        "discount: 2, loyalty: 1, new_product: 0.5}; got {'none': 0, 'sms': 0.1} (other "
        "catalogues are not supported yet)",
    ),
    "no campaign log": (
        {"campaign": None},
        "data.campaign: missing; a study needs the randomised campaign log: the policy learns each segment's value "
        "from it and gain is estimated from it (without one, nothing can be targeted and gain is not measurable)",
    ),
    "a file that is not there": ({"source": "nowhere.csv"}, "data.source: {tmp}/nowhere.csv does not exist"),
}


@pytest.mark.parametrize("case", list(MAPPING_CASES))
def test_malformed_mappings_are_refused_naming_the_key(exported, tmp_path, case):
    changes, expected = MAPPING_CASES[case]
    block = copy.deepcopy(BLOCK)
    exported.to_parquet(tmp_path / "customers.parquet", index=False)
    for k, v in changes.items():
        if k.startswith("campaign."):
            block["campaign"][k.split(".", 1)[1]] = v
        else:
            block[k] = v
    with pytest.raises(ParameterError) as err:
        parse_data(block, tmp_path)
    assert str(err.value) == expected.replace("{tmp}", str(tmp_path.resolve()))


def test_only_the_mapped_columns_are_read(exported, tmp_path):
    t = _load(exported.assign(secret_note="do not read"), tmp_path, "csv")
    assert "secret_note" not in t.customers.columns
    assert "age" not in t.customers.columns  # not declared in any role


def test_a_query_selects_the_table(exported, tmp_path):
    src = _write(exported, tmp_path, "duckdb")["source"]
    block = {
        **copy.deepcopy(BLOCK),
        "source": {"url": src["url"], "query": "SELECT * FROM customers WHERE frequency > 2"},
    }
    t = load_table(parse_data(block, tmp_path))
    assert len(t.customers) == int((exported["frequency"] > 2).sum())
    assert "crm.db" in t.spec.describe_source() and "frequency > 2" in t.spec.describe_source()

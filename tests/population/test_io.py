"""Saving and loading populations: the data contract is checked on load, word for word."""

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kit import population as P
from kit.cli import main
from kit.population import (
    SCHEMA,
    Population,
    PopulationSchemaError,
    fingerprint,
    load_population,
    make_population,
    save_population,
    validate_customers,
)
from kit.population import io as P_io


@pytest.fixture(scope="module")
def pop():
    return make_population(2_000, random_state=9)


@pytest.fixture
def df(pop):
    return pop.customers.copy()


def _problems(df, knobs=None):
    with pytest.raises(PopulationSchemaError) as e:
        validate_customers(df, knobs)
    return e.value.problems


def _first_rows(mask, k):
    """Index labels of the first k rows where mask holds (the test needs that many)."""
    idx = np.flatnonzero(np.asarray(mask))[:k]
    assert len(idx) == k
    return idx


# --- the schema -------------------------------------------------------------------------------


def test_schema_covers_every_documented_column(pop):
    assert list(SCHEMA) == list(pop.customers.columns)
    assert set(SCHEMA) == set(P.COLUMN_DOCS)


@pytest.mark.parametrize(
    "knobs",
    [
        {},
        dict(proxy_strength=1.0, label_bias=1.0, n_segments=20, older_share=0.99, older_fatigue=2.0),
        dict(proxy_strength=0.0, consent_rate=0.0, older_share=0.01, history_share=0.95, n_segments=2),
    ],
)
def test_generated_populations_satisfy_the_contract(knobs):
    p = make_population(3_000, random_state=4, **knobs)
    validate_customers(p.customers, p.knobs)  # raises if not


def test_missing_columns_named(df):
    assert _problems(df.drop(columns=["p_discount", "age"])) == [
        "age, p_discount: missing (every column of the data contract is required)"
    ]


def test_unknown_column_named(df):
    assert _problems(df.assign(shoe_size=1)) == ["shoe_size: not in the data contract"]


def test_missing_values(df):
    df.loc[_first_rows(df.index >= 0, 2), "monetary"] = np.nan
    assert _problems(df) == ["monetary: missing values (2 rows)"]


@pytest.mark.parametrize(
    "column,convert,message",
    [
        ("older", lambda s: s.astype(np.int64), "older: dtype int64, expected bool"),
        ("age", lambda s: s.astype(float), "age: dtype float64, expected an integer dtype"),
        ("monetary", lambda s: s.astype(str), "monetary: dtype str, expected a float dtype"),
        ("channel", lambda s: s.astype(str), "channel: dtype str, expected category"),
        ("customer_id", lambda s: pd.Series(np.arange(len(s))), "customer_id: dtype int64, expected a string dtype"),
    ],
)
def test_wrong_dtype(df, column, convert, message):
    df[column] = convert(df[column])
    problems = _problems(df)
    assert problems[0] == message
    # A column of the wrong dtype is not used by the cross-column rules (no follow-on noise).
    assert len(problems) == 1


def test_wrong_categories(df):
    df["gender"] = df["gender"].cat.rename_categories(["F", "M"])
    assert _problems(df) == ["gender: categories F, M, expected female, male"]


def test_probability_outside_unit_interval(df):
    df.loc[_first_rows(df.index >= 0, 3), "p_discount"] = 1.5
    assert _problems(df) == ["p_discount: values outside [0, 1] (3 rows)"]


def test_negative_amount_and_count(df):
    df.loc[_first_rows(df.index >= 0, 1), "monetary"] = -1.0
    df.loc[_first_rows(df.index >= 0, 2), "contacts_90d"] = -1
    assert _problems(df) == ["monetary: values below 0 (1 row)", "contacts_90d: values below 0 (2 rows)"]


def test_infinite_value(df):
    df.loc[_first_rows(df.index >= 0, 1), "v_loyalty"] = np.inf
    assert _problems(df) == ["v_loyalty: infinite values (1 row)"]


def test_duplicated_ids(df):
    df.loc[1, "customer_id"] = df.loc[0, "customer_id"]
    assert _problems(df) == ["customer_id: duplicated ids (1 row)"]


def test_affinities_must_sum_to_one(df):
    rows = _first_rows(df["aff_grocery"] < 0.9, 2)
    df.loc[rows, "aff_grocery"] += 0.01
    assert _problems(df) == [
        "aff_grocery, aff_fashion, aff_electronics, aff_home: affinities do not sum to 1 within 0.001 (2 rows)"
    ]


def test_age_band_and_older_agree_with_age(df):
    rows = _first_rows(~df["older"], 2)
    df.loc[rows, "older"] = True
    df.loc[rows[:1], "age_band"] = "75+"
    assert _problems(df) == ["older: disagrees with age (2 rows)", "age_band: disagrees with age (1 row)"]


def test_hist_action_null_exactly_outside_the_campaign(df):
    camp, out = df["in_campaign"], ~df["in_campaign"]
    df.loc[_first_rows(camp, 1), "hist_action"] = np.nan
    df.loc[_first_rows(out, 2), "hist_action"] = "discount"
    assert _problems(df) == [
        "hist_action: missing for campaign customers (1 row)",
        "hist_action: set for customers outside the campaign (2 rows)",
    ]


def test_campaign_log_consistency(df):
    out = ~df["in_campaign"]
    df.loc[_first_rows(out, 1), ["hist_response", "hist_true_response"]] = True
    no_purchase = df["in_campaign"] & ~df["hist_true_response"]
    df.loc[_first_rows(no_purchase, 2), "hist_response"] = True
    no_record = df["in_campaign"] & ~df["hist_response"]
    df.loc[_first_rows(no_record, 3), "hist_value"] = 5.0
    assert _problems(df) == [
        "hist_response: set for customers outside the campaign (1 row)",
        "hist_true_response: set for customers outside the campaign (1 row)",
        "hist_response: recorded where the true response was no purchase (2 rows)",
        "hist_value: non-zero without a recorded response (3 rows)",
    ]


def test_latent_segment_bounded_by_the_n_segments_knob(pop, df):
    df.loc[_first_rows(df.index >= 0, 1), "latent_segment"] = pop.knobs["n_segments"]
    validate_customers(df)  # without knobs only >= 0 is known
    assert _problems(df, pop.knobs) == [f"latent_segment: values outside [0, {pop.knobs['n_segments'] - 1}] (1 row)"]


def test_every_problem_reported_in_one_error(df):
    df.loc[0, "p_none"] = -0.5
    df = df.drop(columns=["tenure_months"])
    with pytest.raises(PopulationSchemaError) as e:
        validate_customers(df)
    assert str(e.value) == (
        "tenure_months: missing (every column of the data contract is required)\np_none: values outside [0, 1] (1 row)"
    )
    assert isinstance(e.value, ValueError)


# --- files ------------------------------------------------------------------------------------


def test_round_trip_is_exact(pop, tmp_path):
    path = save_population(pop, tmp_path / "p.parquet")
    back = load_population(path)
    pd.testing.assert_frame_equal(back.customers, pop.customers)
    assert back.knobs == pop.knobs and back.fingerprint() == pop.fingerprint()
    meta = json.loads(pq.read_schema(path).metadata[P_io.METADATA_KEY])
    assert meta == {"format": 1, "knobs": pop.knobs, "fingerprint": pop.fingerprint()}
    assert sorted(os.listdir(tmp_path)) == ["p.parquet"]  # no temporary file left behind


def test_load_runs_the_schema_checks(pop, tmp_path):
    bad = pop.customers.drop(columns=["v_new_product"])
    path = save_population(Population(bad, pop.knobs), tmp_path / "p.parquet")
    with pytest.raises(PopulationSchemaError) as e:
        load_population(path)
    assert str(e.value) == "v_new_product: missing (every column of the data contract is required)"
    assert e.value.path == path


def _rewrite(path, change):
    """Change a saved file's table with pyarrow, keeping its metadata (knobs and fingerprint)."""
    table = pq.read_table(path)
    pq.write_table(change(table).replace_schema_metadata(table.schema.metadata), path)


def test_fingerprint_mismatch_detected(pop, tmp_path):
    path = save_population(pop, tmp_path / "p.parquet")
    i = pop.customers.columns.get_loc("p_loyalty")
    p = pop.customers["p_loyalty"].to_numpy().copy()
    p[17] = 0.5 if p[17] != 0.5 else 0.25  # still a valid probability: only the fingerprint can tell
    _rewrite(path, lambda t: t.set_column(i, "p_loyalty", pa.array(p)))
    changed = pop.customers.assign(p_loyalty=p)
    with pytest.raises(PopulationSchemaError) as e:
        load_population(path)
    assert str(e.value) == (
        f"{path}: content does not match the fingerprint saved with it (saved "
        f"{pop.fingerprint()[:12]}..., computed {fingerprint(changed)[:12]}...); "
        "the file was changed after it was written"
    )


def test_row_count_must_match_the_knobs(pop, tmp_path):
    path = save_population(pop, tmp_path / "p.parquet")
    _rewrite(path, lambda t: t.slice(0, 1_500))
    with pytest.raises(PopulationSchemaError) as e:
        load_population(path)
    assert str(e.value) == f"{path}: holds 1500 customers, but its knobs say n_customers=2000"


def test_file_without_population_metadata(pop, tmp_path):
    path = tmp_path / "plain.parquet"
    pop.customers.to_parquet(path)
    with pytest.raises(PopulationSchemaError) as e:
        load_population(path)
    assert str(e.value) == (
        f"{path}: no crmkit population metadata (knobs and fingerprint); "
        "write populations with save_population or `crmkit population`"
    )


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda m: {**m, "knobs": {**m["knobs"], "proxy_strength": 1.5}},
            "knob proxy_strength=1.5 is out of range; allowed: 0.0 to 1.0",
        ),
        (
            lambda m: {**m, "knobs": {k: v for k, v in m["knobs"].items() if k != "older_fatigue"}},
            "knob older_fatigue: missing",
        ),
        (lambda m: {**m, "knobs": {**m["knobs"], "n_segments": 6.5}}, "knob n_segments=6.5 is not an integer"),
        (
            lambda m: {k: v for k, v in m.items() if k != "fingerprint"},
            "unreadable crmkit population metadata (KeyError: 'fingerprint')",
        ),
    ],
)
def test_broken_knobs_metadata(pop, tmp_path, edit, message):
    path = save_population(pop, tmp_path / "p.parquet")
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    meta[P_io.METADATA_KEY] = json.dumps(edit(json.loads(meta[P_io.METADATA_KEY]))).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    with pytest.raises(PopulationSchemaError) as e:
        load_population(path)
    assert str(e.value) == f"{path}: {message}"


@pytest.mark.parametrize("damage", ["not parquet", "truncated"])
def test_broken_file_named(pop, tmp_path, damage):
    path = save_population(pop, tmp_path / "p.parquet")
    data = path.read_bytes()
    path.write_bytes(b"customer_id,age\nC1,40\n" if damage == "not parquet" else data[: len(data) // 2])
    with pytest.raises(PopulationSchemaError) as e:
        load_population(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: not a readable parquet file (") and msg.endswith(")")
    assert len(msg) > len(f"{path}: not a readable parquet file ()")  # the reader's reason is kept


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.parquet: no such file"):
        load_population(tmp_path / "nope.parquet")


def test_failed_write_leaves_nothing(pop, tmp_path, monkeypatch):
    def half_then_fail(table, where, **kw):
        open(where, "wb").write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(P_io.pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_population(pop, tmp_path / "p.parquet")
    assert os.listdir(tmp_path) == []


# --- the datasheet ----------------------------------------------------------------------------


def test_datasheet_aggregates_only(pop, tmp_path):
    path = P.write_datasheet(pop, tmp_path / "p.datasheet.md", source="p.parquet")
    text = path.read_text()
    assert pop.fingerprint() in text and "File: `p.parquet`" in text
    assert "| proxy_strength | 0.5 |" in text
    assert "| p_discount | float64 | 0 to 1 | TRUTH: probability of a purchase under action 'discount' |" in text
    # No customer row: not one id appears.
    assert not any(cid in text for cid in pop.customers["customer_id"].head(200))
    # The marginals agree with a direct computation.
    c = pop.customers
    older = c[c["older"]]
    row = (
        f"| True | {len(older)} | {len(older) / len(c):.3f} | {older['profiling_consent'].mean():.3f} | "
        f"{older['marketing_consent'].mean():.3f} |"
    )
    assert row in text


def test_group_marginals_show_label_bias():
    c = make_population(20_000, label_bias=0.5, random_state=1).customers
    m = P.group_marginals(c, "older").set_index("older")
    camp = c[c["in_campaign"]]
    for g in (False, True):
        part = camp[camp["older"] == g]
        assert m.loc[g, "campaign_response_true"] == pytest.approx(part["hist_true_response"].mean(), abs=1e-12)
        assert m.loc[g, "campaign_response_recorded"] == pytest.approx(part["hist_response"].mean(), abs=1e-12)
    # Half of older customers' responses went unrecorded; younger customers' none.
    assert m.loc[False, "campaign_response_recorded"] == m.loc[False, "campaign_response_true"]
    ratio = m.loc[True, "campaign_response_recorded"] / m.loc[True, "campaign_response_true"]
    assert abs(ratio - 0.5) < 0.06
    assert m["customers"].sum() == len(c) and m["share"].sum() == pytest.approx(1.0)


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--proxy-strength", "1.5"], "--proxy-strength: 1.5 is out of range; expected a number >= 0 and <= 1"),
        (["--consent-rate", "-0.1"], "--consent-rate: -0.1 is out of range; expected a number >= 0 and <= 1"),
        (["--n-segments", "1"], "--n-segments: 1 is out of range; expected an integer >= 2 and <= 20"),
        (["--n", "many"], "--n: expected an integer >= 1000 and <= 10000000, got 'many'"),
        (["--older-fatigue", "nan"], "--older-fatigue: expected a number >= 0 and <= 2, got nan"),
    ],
)
def test_cli_population_rejects_bad_knobs(tmp_path, capsys, argv, message):
    out = tmp_path / "p.parquet"
    assert main(["population", *argv, "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"crmkit population: {message}\n"
    assert not tmp_path.exists() or os.listdir(tmp_path) == []


def test_cli_population_writes_what_make_population_makes(tmp_path, capsys):
    out = tmp_path / "sub" / "p.parquet"
    argv = [
        "population",
        "--n",
        "2500",
        "--seed",
        "4",
        "--proxy-strength",
        "0.9",
        "--older-fatigue",
        "0",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    sheet = tmp_path / "sub" / "p.datasheet.md"
    assert capsys.readouterr().out == f"population: {out} (2500 customers)\ndatasheet: {sheet}\n"
    loaded = load_population(out)
    expected = make_population(2500, proxy_strength=0.9, older_fatigue=0.0, random_state=4)
    assert loaded.fingerprint() == expected.fingerprint() and loaded.knobs == expected.knobs
    assert sheet.read_text().startswith("# Population datasheet")


def test_cli_validate_population(pop, tmp_path, capsys):
    path = save_population(pop, tmp_path / "p.parquet")
    assert main(["validate-population", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: valid population of 2000 customers (")
    bad = save_population(Population(pop.customers.assign(p_none=2.0), pop.knobs), tmp_path / "bad.parquet")
    assert main(["validate-population", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"crmkit validate-population: {bad}: not a valid population\n  p_none: values outside [0, 1] (2000 rows)\n"
    )

"""Reading a researcher's customer table, checking it against its mapping, and encoding it.

`load_table(spec)` reads only the mapped columns (CSV through pyarrow's column-selective reader,
parquet by column, SQL by a SELECT of those columns), checks every column for its role (types,
missing values, infinities, duplicate ids, the campaign log's consistency, propensities in (0, 1])
and raises `DataSourceError` listing every problem, each starting with the column it concerns, e.g.
``monetary: missing values (2 rows)``. A table that passes is encoded into the kit's internal layout
(`DataTable.customers`), the same whatever the file format, so a CSV, a parquet file and a DuckDB
table holding the same values give the same frame, bit for bit, and the same fingerprint:

- ``customer_id``: the id column as text;
- every declared protected attribute, quasi-identifier and feature under its own name: bool stays
  bool, numbers become float64, text becomes a categorical with its values sorted;
- ``profiling_consent``, ``marketing_consent``: the declared columns (all True when not declared);
- ``in_campaign``, ``hist_action`` (categorical over the action catalogue), ``hist_response``,
  ``hist_value``, ``hist_propensity`` (nan outside the campaign);
- ``older`` and ``contacts_90d`` when the table does not hold them (False and 0: the policy's
  contact cap for older customers then never applies).

The frame's ``attrs["crmkit.data"]`` holds the encoding (numeric features, categorical features
with their categories, protected attributes), which `kit.features.feature_table` reads to give
approaches the declared features and nothing else.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..features import DATA_ATTR
from ..population.contract import _rows
from ..population.generate import Population
from ..vocabulary import ACTIONS
from .spec import DataSpec

MAX_CATEGORIES = 50  # a text feature with more distinct values is refused (one-hot would explode)
RESERVED = {
    "customer_id": "id column",
    "profiling_consent": "profiling consent column",
    "marketing_consent": "marketing consent column",
    "in_campaign": "campaign membership column",
    "hist_action": "campaign action column",
    "hist_response": "campaign response column",
    "hist_value": "campaign value column",
    "hist_propensity": "campaign propensity column",
}

MSG_MISSING = "{column}: not in the table (declared as data.{role})"
MSG_EMPTY = "{column}: the table has no rows"
MSG_NULLS = "{column}: missing values ({rows})"
MSG_DUPLICATE_IDS = "{column}: duplicated ids ({rows})"
MSG_TYPE = "{column}: {role} must be {expected}, got {dtype}"
MSG_ONE_VALUE = "{column}: only one value ({value}); a protected attribute needs at least two groups"
MSG_TOO_MANY_CATEGORIES = "{column}: {n} distinct values; a text feature may have at most {max}"
MSG_INFINITE = "{column}: infinite values ({rows})"
MSG_ACTION_UNKNOWN = "{column}: actions not in data.actions: {values} ({rows})"
MSG_ACTION_MISSING = "{column}: missing for campaign customers ({rows})"
MSG_SET_OUTSIDE = "{column}: set for customers outside the campaign ({rows})"
MSG_PROPENSITY_RANGE = "{column}: propensities outside (0, 1] ({rows})"
MSG_VALUE_WITHOUT_RESPONSE = "{column}: non-zero without a recorded response ({rows})"
MSG_NO_CAMPAIGN = "{column}: no customer is in the campaign"
MSG_NO_HOLDOUT = "{column}: every customer is in the campaign; none is left to target and measure on"
MSG_RESERVED = "{column}: the kit uses this name for its own {meaning}; rename the column (in the file or the query)"
MSG_UNREADABLE = "{source}: not readable ({reason})"


class DataSourceError(ValueError):
    """A customer table does not fit its mapping; ``problems`` lists each, starting with its column."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class DataTable(Population):
    """A checked, encoded customer table: a `Population` without truth, with its mapping.

    ``knobs`` stands in for the generator's knobs: the source and its size. ``fingerprint()`` is
    the sha256 of the encoded content (the same for a CSV, parquet or SQL copy of the same values).
    """

    spec: DataSpec | None = None


# --- Reading ----------------------------------------------------------------------------------


def _sql(spec: DataSpec, columns: list[str] | None) -> str:
    inner = spec.query if spec.query else f'SELECT * FROM "{spec.table}"'
    cols = "*" if columns is None else ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    limit = " LIMIT 0" if columns is None else ""
    return f"SELECT {cols} FROM ({inner}) AS crmkit_source{limit}"


def _engine(spec: DataSpec):
    """An engine that holds no connection open after use (NullPool) and opens a DuckDB file read-only:
    a DuckDB file admits one writer, so a study's runs, reading it in parallel, must not lock it."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    args = {"read_only": True} if spec.url.startswith("duckdb:") and ":memory:" not in spec.url else {}
    return sa.create_engine(spec.url, poolclass=NullPool, connect_args=args)


def table_columns(spec: DataSpec) -> list[str]:
    """The column names the source holds (read without reading its rows)."""
    try:
        if spec.path is not None:
            if spec.path.suffix.lower() == ".csv":
                with open(spec.path, newline="") as f:
                    return next(csv.reader(f), [])
            import pyarrow.parquet as pq

            return list(pq.read_schema(spec.path).names)
        import sqlalchemy as sa

        with _engine(spec).connect() as con:
            return list(con.execute(sa.text(_sql(spec, None))).keys())
    except Exception as exc:  # unreadable file, bad URL, failing query: one clear line
        raise DataSourceError([MSG_UNREADABLE.format(source=spec.describe_source(), reason=_reason(exc))]) from exc


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def read_columns(spec: DataSpec, columns: list[str]) -> pd.DataFrame:
    """Only `columns` of the source, as a DataFrame (the id column always as text)."""
    try:
        if spec.path is not None and spec.path.suffix.lower() == ".csv":
            import pyarrow as pa
            from pyarrow import csv as pacsv

            opts = pacsv.ConvertOptions(
                include_columns=columns, column_types={spec.id: pa.string()}, strings_can_be_null=True
            )
            return pacsv.read_csv(spec.path, convert_options=opts).to_pandas()
        if spec.path is not None:
            import pyarrow.parquet as pq

            return pq.read_table(spec.path, columns=columns).to_pandas()
        import sqlalchemy as sa

        with _engine(spec).connect() as con:
            return pd.read_sql(sa.text(_sql(spec, columns)), con)
    except Exception as exc:
        raise DataSourceError([MSG_UNREADABLE.format(source=spec.describe_source(), reason=_reason(exc))]) from exc


# --- Checking ---------------------------------------------------------------------------------


def _kind(s: pd.Series) -> str:
    """bool, number or text (anything else is reported by its dtype)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "number"
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s.dtype) or s.dtype == object:
        non_null = s.dropna()
        if s.dtype == object and len(non_null) and non_null.map(type).isin([bool, np.bool_]).all():
            return "bool"
        return "text"
    return str(s.dtype)


def _roles(spec: DataSpec) -> list[tuple[str, str]]:
    """(column, role) pairs in declaration order, for messages."""
    out = [(spec.id, "id")]
    out += [(c, "protected") for c in spec.protected]
    out += [(c, "quasi_identifiers") for c in spec.quasi_identifiers]
    out += [(c, "features") for c in spec.features]
    out += [(c, k) for k in ("consent", "marketing_consent") if (c := getattr(spec, k))]
    if spec.campaign is not None:
        for k in ("member", "action", "response", "value", "propensity"):
            c = getattr(spec.campaign, k)
            if isinstance(c, str):
                out.append((c, f"campaign.{k}"))
    return out


def check_table(df: pd.DataFrame, spec: DataSpec) -> list[str]:
    """Every problem of a read table against its mapping (an empty list: the table is fine)."""
    problems: list[str] = []
    if len(df) == 0:
        return [MSG_EMPTY.format(column=spec.id)]
    camp = spec.campaign
    member = None
    if camp is not None and _kind(df[camp.member]) == "bool" and not df[camp.member].isna().any():
        member = df[camp.member].to_numpy(dtype=bool)
    log_only = set() if camp is None else {camp.action, camp.response, camp.value}
    if camp is not None and isinstance(camp.propensity, str):
        log_only.add(camp.propensity)
    expected = {
        "protected": ("bool", "text"),
        "features": ("bool", "number", "text"),
        "consent": ("bool",),
        "marketing_consent": ("bool",),
        "campaign.member": ("bool",),
        "campaign.action": ("text",),
        "campaign.response": ("bool",),
        "campaign.value": ("number",),
        "campaign.propensity": ("number",),
    }
    words = {
        "protected": "a protected attribute",
        "features": "a feature",
        "consent": "the consent column",
        "marketing_consent": "the marketing consent column",
    }
    done = set()
    for col, role in _roles(spec):
        if (col, role) in done:
            continue
        done.add((col, role))
        s = df[col]
        if col in RESERVED and not (
            (col == "customer_id" and role == "id")
            or (col == "profiling_consent" and role == "consent")
            or (col == "marketing_consent" and role == "marketing_consent")
            or RESERVED[col].startswith("campaign")
            and role.startswith("campaign")
        ):
            problems.append(MSG_RESERVED.format(column=col, meaning=RESERVED[col]))
            continue
        kind = _kind(s)
        if role in expected and kind not in expected[role]:
            what = words.get(role, f"data.{role}")
            problems.append(
                MSG_TYPE.format(column=col, role=what, expected=" or ".join(expected[role]), dtype=str(s.dtype))
            )
            continue
        nulls = s.isna().to_numpy()
        if col in log_only and member is not None:
            nulls = nulls & member  # outside the campaign, log columns may be empty
        if nulls.any() and (col not in log_only or member is not None):
            problems.append(MSG_NULLS.format(column=col, rows=_rows(int(nulls.sum()))))
        if kind == "number":
            inf = np.isinf(s.to_numpy(dtype=float, na_value=np.nan))
            if inf.any():
                problems.append(MSG_INFINITE.format(column=col, rows=_rows(int(inf.sum()))))
        if role == "protected":
            values = s.dropna().unique()
            if len(values) == 1:
                problems.append(MSG_ONE_VALUE.format(column=col, value=values[0]))
        if role == "features" and kind == "text":
            n = s.nunique()
            if n > MAX_CATEGORIES:
                problems.append(MSG_TOO_MANY_CATEGORIES.format(column=col, n=n, max=MAX_CATEGORIES))
    dup = df[spec.id].duplicated(keep=False).to_numpy()
    if dup.any():
        problems.append(MSG_DUPLICATE_IDS.format(column=spec.id, rows=_rows(int(dup.sum()))))
    if camp is not None and member is not None:
        problems += _campaign_problems(df, spec, member)
    return problems


def _campaign_problems(df: pd.DataFrame, spec: DataSpec, member: np.ndarray) -> list[str]:
    camp = spec.campaign
    out = []
    if not member.any():
        out.append(MSG_NO_CAMPAIGN.format(column=camp.member))
    elif member.all():
        out.append(MSG_NO_HOLDOUT.format(column=camp.member))
    action = df[camp.action]
    present = action.notna().to_numpy()
    outside = present & ~member
    if outside.any():
        out.append(MSG_SET_OUTSIDE.format(column=camp.action, rows=_rows(int(outside.sum()))))
    known = action.astype(object).isin(list(spec.actions)).to_numpy()
    unknown = member & present & ~known
    if unknown.any():
        values = ", ".join(sorted(map(str, action[unknown].unique()))[:5])
        out.append(MSG_ACTION_UNKNOWN.format(column=camp.action, values=values, rows=_rows(int(unknown.sum()))))
    if isinstance(camp.propensity, str) and pd.api.types.is_numeric_dtype(df[camp.propensity].dtype):
        e = df[camp.propensity].to_numpy(dtype=float, na_value=np.nan)
        bad = member & np.isfinite(e) & ~((e > 0) & (e <= 1))
        if bad.any():
            out.append(MSG_PROPENSITY_RANGE.format(column=camp.propensity, rows=_rows(int(bad.sum()))))
    resp, value = df[camp.response], df[camp.value]
    if _kind(resp) == "bool" and pd.api.types.is_numeric_dtype(value.dtype):
        r = resp.fillna(False).to_numpy(dtype=bool)
        v = value.to_numpy(dtype=float, na_value=0.0)
        orphan = member & ~r & (v != 0)
        if orphan.any():
            out.append(MSG_VALUE_WITHOUT_RESPONSE.format(column=camp.value, rows=_rows(int(orphan.sum()))))
    return out


# --- Encoding ---------------------------------------------------------------------------------


def _encode(s: pd.Series) -> pd.Series | np.ndarray:
    kind = _kind(s)
    if kind == "bool":
        return s.to_numpy(dtype=bool)
    if kind == "number":
        return s.to_numpy(dtype=np.float64)
    values = s.astype(str)
    return pd.Categorical(values, categories=sorted(values.unique()))


def encode_table(df: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """The checked table in the kit's internal layout (see the module docstring)."""
    n = len(df)
    cols: dict[str, object] = {"customer_id": df[spec.id].astype(str).to_numpy(dtype=object)}
    declared = list(dict.fromkeys([*spec.protected, *spec.quasi_identifiers, *spec.features]))
    for c in declared:
        cols[c] = _encode(df[c])
    cols["profiling_consent"] = df[spec.consent].to_numpy(dtype=bool) if spec.consent else np.ones(n, bool)
    cols["marketing_consent"] = (
        df[spec.marketing_consent].to_numpy(dtype=bool) if spec.marketing_consent else np.ones(n, bool)
    )
    camp = spec.campaign
    if camp is not None:
        member = df[camp.member].to_numpy(dtype=bool)
        action = df[camp.action].astype(object).where(member, None)
        cols["in_campaign"] = member
        cols["hist_action"] = pd.Categorical(action, categories=list(ACTIONS))
        cols["hist_response"] = member & df[camp.response].fillna(False).to_numpy(dtype=bool)
        cols["hist_value"] = np.where(member, df[camp.value].to_numpy(dtype=float, na_value=0.0), 0.0)
        e = (
            df[camp.propensity].to_numpy(dtype=float, na_value=np.nan)
            if isinstance(camp.propensity, str)
            else np.full(n, camp.propensity)
        )
        cols["hist_propensity"] = np.where(member, e, np.nan)
    else:
        cols["in_campaign"] = np.zeros(n, bool)
    if "older" not in cols:
        cols["older"] = np.zeros(n, bool)
    if "contacts_90d" not in cols:
        cols["contacts_90d"] = np.zeros(n, np.float64)
    out = pd.DataFrame(cols, copy=False)
    categorical = {
        c: [str(x) for x in out[c].cat.categories]
        for c in spec.features
        if isinstance(out[c].dtype, pd.CategoricalDtype)
    }
    out.attrs[DATA_ATTR] = {
        "quasi_identifiers": list(spec.quasi_identifiers),
        "numeric": [c for c in spec.features if c not in categorical],
        "categorical": categorical,
        "protected": {
            c: ([str(x) for x in out[c].cat.categories] if isinstance(out[c].dtype, pd.CategoricalDtype) else None)
            for c in spec.protected
        },
    }
    return out


def load_table(spec: DataSpec) -> DataTable:
    """Read, check and encode the mapped table; `DataSourceError` lists every problem found."""
    available = table_columns(spec)
    missing = [MSG_MISSING.format(column=c, role=role) for c, role in _roles(spec) if c not in available]
    if missing:
        raise DataSourceError(list(dict.fromkeys(missing)))
    df = read_columns(spec, spec.columns())
    problems = check_table(df, spec)
    if problems:
        raise DataSourceError(problems)
    return DataTable(encode_table(df, spec), {"source": spec.describe_source(), "n_customers": len(df)}, spec)

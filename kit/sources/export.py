"""Exporting a generated population as a researcher's table would look: the firm's columns, no truth.

`crmkit population --without-truth --out FILE` writes it as ``.csv``, ``.parquet`` or a DuckDB
database (``.duckdb`` / ``.db``, table ``customers``), so the whole bring-your-own-data path can be
tried, and checked against the truth the kit kept, on a table whose answers are known.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..records import write_atomic
from ..vocabulary import FIRM_COLUMNS

EXPORT_SUFFIXES = (".csv", ".parquet", ".duckdb", ".db")
EXPORT_TABLE = "customers"
MSG_EXPORT_SUFFIX = "--out: expected a file ending in .csv, .parquet, .duckdb or .db, got {path}"


def firm_table(customers: pd.DataFrame) -> pd.DataFrame:
    """The columns a firm holds (ids, protected attributes, quasi-identifiers, behaviour, consent,
    the campaign log): every truth column dropped."""
    return customers[list(FIRM_COLUMNS)]


def export_without_truth(customers: pd.DataFrame, path: str | Path) -> Path:
    """Write `firm_table(customers)` to `path` (format from its suffix), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ValueError(MSG_EXPORT_SUFFIX.format(path=path))
    df = firm_table(customers)
    if suffix == ".csv":
        return write_atomic(path, df.to_csv(index=False).encode())
    if suffix == ".parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return write_atomic(path, buf.getvalue())
    plain = df.assign(
        **{
            c: df[c].astype(str).where(df[c].notna(), None)
            for c in df.columns
            if isinstance(df[c].dtype, pd.CategoricalDtype)
        }
    )

    def write_db(tmp: Path) -> None:
        import duckdb

        con = duckdb.connect(str(tmp))
        try:
            con.register("crmkit_export", plain)
            con.execute(f"CREATE TABLE {EXPORT_TABLE} AS SELECT * FROM crmkit_export")
        finally:
            con.close()

    return write_atomic(path, write_db)

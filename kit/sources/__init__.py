"""External customer tables: a study's `data:` block, reading the table, checking it, encoding it.

`parse_data` checks the block (`spec.py`); `load_table` reads only the mapped columns of a CSV,
parquet file or SQL source (DuckDB by default), checks them and encodes them into the kit's internal
layout (`table.py`). Real tables have no truth: runs on them measure privacy, fairness of decisions
and off-policy gain from the campaign log (`kit.measures.ope`), never a truth metric.
"""

from .spec import Campaign, DataSpec, parse_data
from .table import DATA_ATTR, DataSourceError, DataTable, check_table, encode_table, load_table, table_columns

__all__ = [
    "DATA_ATTR",
    "Campaign",
    "DataSourceError",
    "DataSpec",
    "DataTable",
    "check_table",
    "encode_table",
    "load_table",
    "parse_data",
    "table_columns",
]

"""The synthetic CRM population: generator (`generate`), its fingerprint (`fingerprint`), data contract
(`contract`), parquet files (`io`) and the datasheet (`datasheet`). The public names are importable
from `kit.population`."""

from .contract import COLUMN_DOCS, SCHEMA, ColumnRule, PopulationSchemaError, validate_customers
from .datasheet import age_counts, datasheet_markdown, group_marginals, response_by_contacts, write_datasheet
from .generate import Population, fingerprint, make_population, true_net_values
from .io import KNOB_NAMES, load_population, save_population

__all__ = [
    "COLUMN_DOCS",
    "KNOB_NAMES",
    "SCHEMA",
    "ColumnRule",
    "Population",
    "PopulationSchemaError",
    "age_counts",
    "datasheet_markdown",
    "fingerprint",
    "group_marginals",
    "load_population",
    "make_population",
    "response_by_contacts",
    "save_population",
    "true_net_values",
    "validate_customers",
    "write_datasheet",
]

"""The `data:` block of a study file: which table, and what each of its columns means.

```yaml
data:
  source: customers.csv      # .csv or .parquet, relative to the study file; or {url: ..., query: ...}
  id: customer_id
  protected: [older, gender] # bool or categorical columns
  quasi_identifiers: [age_band, gender, postcode_area, income_band]
  features: [recency_days, frequency, monetary, tenure_months, engagement, contacts_90d, channel]
  consent: profiling_consent # optional bool column; customers without it are never profiled
  marketing_consent: marketing_consent  # optional bool column; customers without it are never contacted
  campaign:                  # the randomised campaign log: segment values and off-policy gain
    member: in_campaign
    action: hist_action
    response: hist_response
    value: hist_value
    propensity: 0.25         # a number, or a column
  actions: {none: 0, discount: 2, loyalty: 1, new_product: 0.5}
```

`source` is a file path (``.csv``, ``.parquet``) or a mapping ``{url: ..., query: ...}`` /
``{url: ..., table: ...}`` with a SQLAlchemy URL (DuckDB, ``duckdb:///file.db``, is the default
engine and is tested; a relative DuckDB path is taken relative to the study file). `parse_data`
checks the block's shape and raises `ParameterError` naming the key (``data.campaign.propensity``);
the table itself is checked by `kit.sources.validate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..params import ParameterError
from ..vocabulary import ACTION_COST

FILE_SUFFIXES = (".csv", ".parquet", ".pq")
KEYS = (
    "source",
    "id",
    "protected",
    "quasi_identifiers",
    "features",
    "consent",
    "marketing_consent",
    "campaign",
    "actions",
)
REQUIRED = ("source", "id", "protected", "quasi_identifiers", "features", "actions")
CAMPAIGN_KEYS = ("member", "action", "response", "value", "propensity")

# Approaches defined on a customer table: they read only the declared columns. The others need the
# generator's own columns (rfm, minimised: RFM names; dp_kmeans: declared bounds; kanon, fair_*: the
# generator's quasi-identifiers and groups) or the truth (oracle).
DATA_APPROACHES = ("mass", "kmeans", "gmm", "tree", "unaware")
MSG_DATA_APPROACH = "{approach!r} is not defined on a customer table (it needs the generator's own columns or truth); expected one of {allowed}"

MSG_NO_CAMPAIGN = (
    "missing; a study needs the randomised campaign log: the policy learns each segment's value from it and "
    "gain is estimated from it (without one, nothing can be targeted and gain is not measurable)"
)
MSG_NOT_MAPPING = "expected a mapping, got {got}"
MSG_UNKNOWN_KEY = "unknown key; allowed: {allowed}"
MSG_MISSING_KEY = "missing; a data block needs {required}"
MSG_COLUMN_NAME = "expected a column name (text), got {got}"
MSG_COLUMN_LIST = "expected a list of column names, got {got}"
MSG_EMPTY_LIST = "expected at least one column"
MSG_REPEATED = "{column!r} is listed twice"
MSG_SOURCE = (
    "expected a .csv or .parquet file (relative to the study file) or a mapping {{url: ..., query: ...}} "
    "or {{url: ..., table: ...}}, got {got}"
)
MSG_SOURCE_MISSING = "{path} does not exist"
MSG_SOURCE_SQL = "expected exactly one of query or table beside url"
MSG_PROPENSITY = "{got} is out of range; expected a number > 0 and <= 1, or a column name"
MSG_ACTIONS = (
    "expected the kit's action catalogue with its contact costs, {catalogue}; got {got} "
    "(other catalogues are not supported yet)"
)
MSG_ROLE_CLASH = (
    "{column!r} is also data.{other}; a column has one role (id, consent and campaign columns are not features)"
)


@dataclass(frozen=True)
class Campaign:
    """Column names of the randomised campaign log, and its propensity (a number or a column)."""

    member: str
    action: str
    response: str
    value: str
    propensity: float | str


@dataclass(frozen=True)
class DataSpec:
    """A validated `data:` block: where the table is and what its columns mean."""

    id: str
    protected: tuple[str, ...]
    quasi_identifiers: tuple[str, ...]
    features: tuple[str, ...]
    actions: dict = field(default_factory=dict)
    path: Path | None = None  # a file source
    url: str | None = None  # an SQL source
    query: str | None = None
    table: str | None = None
    consent: str | None = None
    marketing_consent: str | None = None
    campaign: Campaign | None = None

    def columns(self) -> list[str]:
        """Every column the study reads, each once, in a fixed order (only these are read)."""
        cols = [self.id, *self.protected, *self.quasi_identifiers, *self.features, self.consent, self.marketing_consent]
        if self.campaign is not None:
            c = self.campaign
            cols += [c.member, c.action, c.response, c.value, c.propensity if isinstance(c.propensity, str) else None]
        return list(dict.fromkeys(x for x in cols if x is not None))

    def describe_source(self) -> str:
        """Where the data came from, for provenance (an SQL URL without its password)."""
        if self.path is not None:
            return str(self.path)
        from sqlalchemy.engine import make_url

        what = f"query {self.query!r}" if self.query else f"table {self.table!r}"
        return f"{make_url(self.url).render_as_string(hide_password=True)} {what}"

    def to_param(self) -> str:
        """The run parameter ``data``: this block as JSON with the source made absolute, so a run
        re-reads exactly this table wherever its notebook runs (`parse_data(json.loads(...), "/")`)."""
        import json

        block = self.as_block()
        return json.dumps(block, sort_keys=True)

    def as_block(self) -> dict:
        """The block as a study file would give it, with an absolute source."""
        src = (
            str(self.path)
            if self.path is not None
            else {"url": self.url, **({"query": self.query} if self.query else {"table": self.table})}
        )
        block = {
            "source": src,
            "id": self.id,
            "protected": list(self.protected),
            "quasi_identifiers": list(self.quasi_identifiers),
            "features": list(self.features),
            "actions": dict(self.actions),
        }
        for k in ("consent", "marketing_consent"):
            if getattr(self, k):
                block[k] = getattr(self, k)
        if self.campaign is not None:
            block["campaign"] = dict(self.campaign.__dict__)
        return block

    def as_dict(self) -> dict:
        """JSON-ready record of the mapping (for the run's metrics.json and the report)."""
        camp = None if self.campaign is None else dict(self.campaign.__dict__)
        return {
            "source": self.describe_source(),
            "id": self.id,
            "protected": list(self.protected),
            "quasi_identifiers": list(self.quasi_identifiers),
            "features": list(self.features),
            "consent": self.consent,
            "marketing_consent": self.marketing_consent,
            "campaign": camp,
            "actions": dict(self.actions),
        }


def _name(where: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise ParameterError(where, MSG_COLUMN_NAME.format(got=repr(value)))
    return value


def _names(where: str, value, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ParameterError(where, MSG_COLUMN_LIST.format(got=repr(value)))
    if not value and not allow_empty:
        raise ParameterError(where, MSG_EMPTY_LIST)
    out = tuple(_name(f"{where}[{i}]", v) for i, v in enumerate(value))
    for i, v in enumerate(out):
        if v in out[:i]:
            raise ParameterError(f"{where}[{i}]", MSG_REPEATED.format(column=v))
    return out


def _source(where: str, value, base: Path) -> dict:
    if isinstance(value, str) and Path(value).suffix.lower() in FILE_SUFFIXES:
        path = (base / value).resolve()
        if not path.exists():
            raise ParameterError(where, MSG_SOURCE_MISSING.format(path=path))
        return {"path": path}
    if isinstance(value, dict) and isinstance(value.get("url"), str):
        extra = set(value) - {"url", "query", "table"}
        if extra:
            raise ParameterError(f"{where}.{sorted(extra)[0]}", MSG_UNKNOWN_KEY.format(allowed="url, query, table"))
        if ("query" in value) == ("table" in value) or not isinstance(value.get("query", value.get("table")), str):
            raise ParameterError(where, MSG_SOURCE_SQL)
        url = value["url"]
        prefix = "duckdb:///"
        if url.startswith(prefix) and not url[len(prefix) :].startswith(("/", ":memory:")) and len(url) > len(prefix):
            url = prefix + str((base / url[len(prefix) :]).resolve())  # relative to the study file
        return {"url": url, "query": value.get("query"), "table": value.get("table")}
    raise ParameterError(where, MSG_SOURCE.format(got=repr(value)))


def _propensity(where: str, value):
    if isinstance(value, str):
        return _name(where, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and 0 < value <= 1):
        raise ParameterError(where, MSG_PROPENSITY.format(got=repr(value)))
    return float(value)


def _check_keys(where: str, block, allowed: tuple, required: tuple) -> None:
    """A mapping with only `allowed` keys and every `required` one."""
    if not isinstance(block, dict):
        raise ParameterError(where, MSG_NOT_MAPPING.format(got=type(block).__name__))
    for k in block:
        if k not in allowed:
            raise ParameterError(f"{where}.{k}", MSG_UNKNOWN_KEY.format(allowed=", ".join(allowed)))
    for k in required:
        if k not in block:
            raise ParameterError(f"{where}.{k}", MSG_MISSING_KEY.format(required=", ".join(required)))


def parse_data(block, base_dir: str | Path = ".", where: str = "data") -> DataSpec:
    """Check a study's `data:` block and return its `DataSpec`; file paths are relative to `base_dir`.

    Raises `ParameterError` at the first problem, naming the key (``data.features[2]``).
    """
    _check_keys(where, block, KEYS, REQUIRED)
    src = _source(f"{where}.source", block["source"], Path(base_dir))
    spec = {
        "id": _name(f"{where}.id", block["id"]),
        "protected": _names(f"{where}.protected", block["protected"]),
        "quasi_identifiers": _names(f"{where}.quasi_identifiers", block["quasi_identifiers"]),
        "features": _names(f"{where}.features", block["features"]),
    }
    for k in ("consent", "marketing_consent"):
        spec[k] = _name(f"{where}.{k}", block[k]) if block.get(k) is not None else None
    if block.get("campaign") is None:
        raise ParameterError(f"{where}.campaign", MSG_NO_CAMPAIGN)
    campaign = None
    if block.get("campaign") is not None:
        c = block["campaign"]
        cw = f"{where}.campaign"
        _check_keys(cw, c, CAMPAIGN_KEYS, CAMPAIGN_KEYS)
        campaign = Campaign(
            *(_name(f"{cw}.{k}", c[k]) for k in CAMPAIGN_KEYS[:4]),
            propensity=_propensity(f"{cw}.propensity", c["propensity"]),
        )
    actions = block["actions"]
    catalogue = ", ".join(f"{a}: {c:g}" for a, c in ACTION_COST.items())
    if (
        not isinstance(actions, dict)
        or set(actions) != set(ACTION_COST)
        or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != ACTION_COST[a]
            for a, v in actions.items()
        )
    ):
        raise ParameterError(f"{where}.actions", MSG_ACTIONS.format(catalogue="{" + catalogue + "}", got=repr(actions)))
    # One role per column, except that protected attributes and quasi-identifiers may overlap with
    # each other and with features (gender is both a protected attribute and a quasi-identifier).
    single = {"id": [spec["id"]], "consent": [spec["consent"]], "marketing_consent": [spec["marketing_consent"]]}
    if campaign is not None:
        single.update({f"campaign.{k}": [getattr(campaign, k)] for k in CAMPAIGN_KEYS[:4]})
        if isinstance(campaign.propensity, str):
            single["campaign.propensity"] = [campaign.propensity]
    roles = {
        **single,
        "protected": spec["protected"],
        "quasi_identifiers": spec["quasi_identifiers"],
        "features": spec["features"],
    }
    seen: dict[str, str] = {}
    for role, cols in roles.items():
        for col in cols:
            if col is None:
                continue
            if col in seen and (role in single or seen[col] in single):
                raise ParameterError(f"{where}.{role}", MSG_ROLE_CLASH.format(column=col, other=seen[col]))
            seen.setdefault(col, role)
    return DataSpec(actions={a: float(actions[a]) for a in ACTION_COST}, campaign=campaign, **src, **spec)

"""A JSON Schema of study files, built from the same specs that validate them.

`crmkit schema` prints it. Editors that read JSON Schema (VS Code's YAML extension, PyCharm) then
complete keys, approach names and parameter names, and flag values out of range while a study is
written. It is a convenience for editors: `load_study` stays the authority (it also checks what a
schema cannot say, such as a combination of parameters only a whole run can judge).
"""

from __future__ import annotations

import math
from typing import Any

from ..params import RUN_SPECS, Spec
from ..segmenters import REGISTRY, approach_specs
from .spec import REQUIRED_KEYS, STUDY_KEYS

SCHEMA_ID = "https://crm-ethics-kit.invalid/study.schema.json"  # an identifier, not an address
# +inf passes `minimum` of this (a JSON Schema cannot write infinity; YAML's .inf loads as it).
_INF_FLOOR = 1e308


def spec_schema(spec: Spec) -> dict[str, Any]:
    """One parameter's value as JSON Schema: type, range or choices, default and meaning."""
    out: dict[str, Any] = {"description": f"{spec.doc}; {spec.allowed()}"}
    if spec.choices is not None:
        out["enum"] = list(spec.choices)
    elif spec.type is bool:
        out["type"] = "boolean"
    elif spec.type is str:
        out["type"] = "string"
    else:
        rng: dict[str, Any] = {"type": "integer" if spec.type is int else "number"}
        if spec.low is not None:
            rng["exclusiveMinimum" if spec.low_open else "minimum"] = spec.low
        if spec.high is not None:
            rng["maximum"] = spec.high
        if spec.allow_inf:
            out["anyOf"] = [
                rng,
                {"type": "number", "minimum": _INF_FLOOR},
                {"type": "string", "enum": ["inf", "infinity"]},
            ]
        else:
            out.update(rng)
    default = spec.default
    if not (isinstance(default, float) and math.isinf(default)):
        out["default"] = default
    return out


def _one_or_list(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "array", "items": schema, "minItems": 1}]}


def _approach_entry() -> dict:
    names = list(REGISTRY)
    with_params = []
    for name in names:
        specs = approach_specs(name)
        with_params.append(
            {
                "type": "object",
                "properties": {
                    name: {
                        "description": f"{name} with its own parameter values (a list of values is crossed)",
                        "type": ["object", "null"],
                        "properties": {k: _one_or_list(spec_schema(s)) for k, s in specs.items()},
                        "additionalProperties": False,
                    }
                },
                "required": [name],
                "additionalProperties": False,
            }
        )
    return {
        "description": "an approach name, or {approach: {parameter: value or list of values}}",
        "anyOf": [{"type": "string", "enum": names}, *with_params],
    }


from ..sources.spec import KEYS as DATA_KEYS  # noqa: E402
from ..sources.spec import REQUIRED as DATA_REQUIRED  # noqa: E402


def study_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a study file."""
    params = {k: s for k, s in RUN_SPECS.items() if k not in ("approach", "approach_params", "seed")}
    value_of = {k: spec_schema(s) for k, s in params.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "crm-ethics-kit study",
        "description": "A grid of runs: approach settings x parameters x seeds. See `crmkit approaches`.",
        "type": "object",
        "required": list(REQUIRED_KEYS),
        "additionalProperties": False,
        "properties": {
            "name": {"description": STUDY_KEYS["name"], "type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
            "description": {"description": STUDY_KEYS["description"], "type": "string"},
            "notebook": {"description": STUDY_KEYS["notebook"], "type": "string"},
            "base": {
                "description": STUDY_KEYS["base"],
                "type": ["object", "null"],
                "properties": value_of,
                "additionalProperties": False,
            },
            "grid": {
                "description": STUDY_KEYS["grid"],
                "type": "object",
                "required": ["approach"],
                "properties": {
                    "approach": {"type": "array", "minItems": 1, "items": _approach_entry()},
                    **{k: {"type": "array", "minItems": 1, "items": v} for k, v in value_of.items()},
                },
                "additionalProperties": False,
            },
            "pair": {
                "description": STUDY_KEYS["pair"],
                "type": ["object", "null"],
                "properties": {k: {"type": "array", "minItems": 1, "items": v} for k, v in value_of.items()},
                "additionalProperties": False,
            },
            "exclude": {
                "description": STUDY_KEYS["exclude"],
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": {"approach": {"type": "string", "enum": list(REGISTRY)}, **value_of},
                },
            },
            "seeds": {
                "description": STUDY_KEYS["seeds"],
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": spec_schema(RUN_SPECS["seed"]),
            },
            "reference": {"description": STUDY_KEYS["reference"], "type": "string"},
            "data": {
                # A customer table's mapping (kit.sources.spec); load_study checks it and the table in full.
                "description": STUDY_KEYS["data"],
                "type": "object",
                "required": list(DATA_REQUIRED),
                "additionalProperties": False,
                "properties": {k: {} for k in DATA_KEYS},
            },
        },
    }

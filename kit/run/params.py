"""A run's parameters, validated: the approach, its own parameters and every run parameter.

Papermill injects whatever it is given and only warns about names it does not know; `validate_run`
checks every value before any expensive work and names the parameter and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..params import KNOB_RANGES, RUN_SPECS, ParameterError
from ..segmenters import REGISTRY, check_approach, check_approach_params
from ..sources.spec import DATA_APPROACHES, MSG_DATA_APPROACH


@dataclass
class RunParams:
    """A validated run: the approach, its own parameters, and every other run parameter."""

    approach: str
    approach_params: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def population_knobs(self) -> dict:
        """The keyword arguments of `make_population` for this run."""
        return {k: self.values[k] for k in KNOB_RANGES}

    def as_dict(self) -> dict:
        """Flat, JSON-ready record of every resolved parameter."""
        return {"approach": self.approach, "approach_params": dict(self.approach_params), **self.values}


def validate_run(params: dict, where: str = "parameters") -> RunParams:
    """Check a run's parameters (as papermill injected them) and fill in defaults.

    Unknown names are errors, not warnings: a typo must not silently run the default.
    """
    params = dict(params)
    if "approach" not in params:
        raise ParameterError(f"{where}.approach", f"missing; expected one of {', '.join(REGISTRY)}")
    approach = params.pop("approach")
    check_approach(approach, f"{where}.approach")
    approach_params = params.pop("approach_params", None) or {}
    if not isinstance(approach_params, dict):
        raise ParameterError(f"{where}.approach_params", f"expected a mapping, got {type(approach_params).__name__}")
    checked_ap = check_approach_params(approach, approach_params, f"{where}.approach_params")
    values = {}
    for k, v in params.items():
        if k not in RUN_SPECS:
            raise ParameterError(
                f"{where}.{k}", f"unknown parameter; allowed: approach, approach_params, {', '.join(RUN_SPECS)}"
            )
        values[k] = RUN_SPECS[k].check(f"{where}.{k}", v)
    for k, spec in RUN_SPECS.items():
        values.setdefault(k, spec.default)
    if values["data"] and approach not in DATA_APPROACHES:
        raise ParameterError(
            f"{where}.approach", MSG_DATA_APPROACH.format(approach=approach, allowed=", ".join(DATA_APPROACHES))
        )
    if values["data"]:  # a customer table: the generator's knobs mean nothing (a study refuses them)
        values = {k: v for k, v in values.items() if k not in KNOB_RANGES}
    return RunParams(approach=approach, approach_params=checked_ap, values=values)


# Names the experiment notebook declares in its parameters cell (output_dir is bookkeeping).
PARAMETER_NAMES: tuple[str, ...] = ("approach", "approach_params", *RUN_SPECS)

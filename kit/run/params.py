"""A run's parameters, validated: the approach, its own parameters and every run parameter.

Papermill injects whatever it is given and only warns about names it does not know; `validate_run`
checks every value before any expensive work and names the parameter and what is allowed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from ..params import KNOB_RANGES, RUN_SPECS, ParameterError
from ..segmenters import REGISTRY, approach_specs, check_approach, check_approach_params
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
    if values["erasure_rate"] and (values["horizon"] > 1 or values["data"]):
        what = "horizon > 1" if values["horizon"] > 1 else "a customer table (data)"
        raise ParameterError(f"{where}.erasure_rate", MSG_ERASURE_UNSUPPORTED.format(what=what))
    if values["data"]:  # a customer table: the generator's knobs mean nothing (a study refuses them)
        values = {k: v for k, v in values.items() if k not in KNOB_RANGES}
    return RunParams(approach=approach, approach_params=checked_ap, values=values)


MSG_ERASURE_UNSUPPORTED = (
    "erasure requests are modelled for a single campaign on the generator's population; with {what} use erasure_rate 0"
)


# Names the experiment notebook declares in its parameters cell (output_dir is bookkeeping, figures
# presentation: `crmkit run` turns them off).
PARAMETER_NAMES: tuple[str, ...] = ("approach", "approach_params", *RUN_SPECS)
NOTEBOOK_NAMES: tuple[str, ...] = (*PARAMETER_NAMES, "output_dir", "figures")
MSG_UNKNOWN_NOTEBOOK_PARAMETER = "unknown parameter; allowed: {allowed}"
MSG_APPROACH_PARAMETER_HINT = " ({name} is a parameter of {approaches}: pass it inside approach_params)"


def _assigned_names(source: str) -> list[str] | None:
    """Names a cell of plain top-level assignments sets (a parameters cell, or the one papermill
    injects after it); None for any other cell (imports, calls, code that does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not tree.body or not all(isinstance(s, (ast.Assign, ast.AnnAssign)) for s in tree.body):
        return None
    names = []
    for stmt in tree.body:
        for target in stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]:
            names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


def validate_notebook(namespace: dict, where: str = "parameters") -> RunParams:
    """Check the experiment notebook's parameters where they live: in the kernel's namespace.

    `validate_run` sees only the names the notebook declares, so ``papermill -p n_custmers 5``
    would run the default silently (papermill merely warns). Here every earlier cell that holds
    nothing but assignments (the parameters cell, papermill's injected cell, a cell a reader added)
    is read back from IPython's input history (`In`), and any name it sets that is not a parameter
    is an error naming it; then the values are checked by `validate_run`.
    """
    for source in list(namespace.get("In") or [])[:-1]:  # the last entry is the calling cell
        for name in _assigned_names(source) or []:
            if name not in NOTEBOOK_NAMES and not name.startswith("_"):
                hint = [a for a in REGISTRY if name in approach_specs(a)]
                msg = MSG_UNKNOWN_NOTEBOOK_PARAMETER.format(allowed=", ".join(NOTEBOOK_NAMES))
                if hint:
                    msg += MSG_APPROACH_PARAMETER_HINT.format(name=name, approaches=", ".join(hint))
                raise ParameterError(f"{where}.{name}", msg)
    output_dir = namespace.get("output_dir", "")
    if not isinstance(output_dir, str):
        raise ParameterError(f"{where}.output_dir", f"expected a folder path (text), got {type(output_dir).__name__}")
    if not isinstance(namespace.get("figures", True), bool):
        raise ParameterError(f"{where}.figures", f"expected true or false, got {namespace['figures']!r}")
    return validate_run({name: namespace[name] for name in PARAMETER_NAMES if name in namespace}, where=where)

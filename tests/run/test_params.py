import math

import pytest

from kit.params import RUN_SPECS, ParameterError
from kit.run import validate_run


def test_defaults_filled():
    p = validate_run({"approach": "kmeans"})
    assert p.n_customers == RUN_SPECS["n_customers"].default
    assert p.approach_params == {"n_clusters": 6, "n_init": 4}


def test_unknown_approach_message():
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "kmeens"})
    assert str(e.value) == (
        "parameters.approach: unknown approach 'kmeens'; expected one of "
        "mass, oracle, rfm, kmeans, gmm, tree, unaware, dp_kmeans, kanon, minimised, fair_kmeans, fair_targeting"
    )


def test_unknown_parameter_is_an_error_not_a_warning():
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "mass", "n_customer": 10})
    assert str(e.value).startswith(
        "parameters.n_customer: unknown parameter; allowed: approach, approach_params, seed,"
    )


def test_wrong_type_message():
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "mass", "n_customers": "many"})
    assert str(e.value) == ("parameters.n_customers: expected an integer >= 1000 and <= 10000000, got str 'many'")


def test_out_of_range_message():
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "mass", "proxy_strength": 1.2})
    assert str(e.value) == "parameters.proxy_strength: 1.2 is out of range; expected a number >= 0 and <= 1"


def test_bool_is_not_an_int():
    with pytest.raises(ParameterError, match="older_contact_cap"):
        validate_run({"approach": "mass", "older_contact_cap": True})


def test_int_accepted_for_float():
    assert validate_run({"approach": "mass", "proxy_strength": 1}).proxy_strength == 1.0


def test_budget_zero_not_allowed():
    with pytest.raises(ParameterError, match=r"budget: 0.0 is out of range; expected a number > 0 and <= 1"):
        validate_run({"approach": "mass", "budget": 0.0})


def test_unknown_approach_parameter():
    with pytest.raises(ParameterError) as e:
        validate_run({"approach": "kmeans", "approach_params": {"k": 3}})
    assert (
        str(e.value)
        == "parameters.approach_params.k: unknown parameter of approach 'kmeans'; allowed: n_clusters, n_init"
    )


def test_nan_rejected():
    with pytest.raises(ParameterError, match="got nan"):
        validate_run({"approach": "mass", "label_bias": math.nan})

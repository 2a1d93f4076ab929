"""Stage timings: outermost calls only, a new run starts with its population."""

import time

from kit.run import timing


def test_nested_stages_count_once_and_a_population_starts_a_new_record(monkeypatch):
    monkeypatch.setattr(timing, "STAGE_SECONDS", {})

    @timing.timed_stage("fit")
    def fit():
        time.sleep(0.02)

    @timing.timed_stage("measure")
    def measure():
        fit()  # a reference fitted inside measure counts as measure
        time.sleep(0.01)

    @timing.timed_stage("population")
    def population():
        pass

    population()
    fit()
    measure()
    t = timing.run_timings()
    assert set(t["stage_seconds"]) == {"population", "fit", "measure"}
    assert 0.02 <= t["stage_seconds"]["fit"] < t["stage_seconds"]["measure"]
    assert t["science_seconds"] == round(sum(timing.STAGE_SECONDS.values()), 3)
    population()
    assert set(timing.run_timings()["stage_seconds"]) == {"population"}

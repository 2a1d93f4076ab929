"""The rendered pages of a real (two-run) study: what a reviewer reads, and that every link and image works.

`make test` checks links and images here without a browser; `make browser-check` loads the same
pages in headless Chromium.
"""

import re

import pandas as pd

from kit.report.links import check_page, check_pages
from kit.report.run_page import metrics_section, section_of


def test_every_link_and_image_of_every_page_works(study_run):
    _, out, _ = study_run
    pages = [out / "index.html", *sorted(out.glob("runs/*/report.html")), out.parent / "index.html"]
    assert check_pages(pages) == []


def test_study_report_numbers_read_well(study_run):
    _, out, _ = study_run
    page = (out / "index.html").read_text()
    assert not re.search(r"\d\.\d+[–-]-", page)  # no '-0.206–-0.049' ranges
    assert "FAIL (" not in page  # failures say in how many seeds, not a sum over seeds
    for header in ("SPD gender", "AOD gender", "SPD older", "AOD older"):
        assert header in page
    for name in ("summary.csv", "group_gain.csv", "groups_offer_rate.csv", "group_gain.png"):
        assert (out / "figures" / name).exists(), name
        assert f"figures/{name}" in page
    summary = pd.read_csv(out / "figures" / "summary.csv")
    assert set(summary["label"]) == {"mass", "kmeans"}


def test_run_page_names_study_approach_settings_and_seed(study_run):
    _, out, _ = study_run
    res = pd.read_csv(out / "results.csv")
    row = res[res["approach"] == "kmeans"].iloc[0]
    page = (out / "runs" / row["run_id"] / "report.html").read_text()
    title = re.search(r"<title>(.*?)</title>", page).group(1)
    assert "kmeans" in title and f"seed {row['seed']}" in title and "e2e" in title
    assert 'href="../../index.html#runs"' in page
    assert "n_clusters 6" in page  # the approach's settings
    assert "It reads age and gender directly" in page  # true of kmeans (aware features)
    assert "never on age or gender" not in page
    assert ".work" not in page and "/tmp" not in page  # no temporary paths
    assert not re.search(r">\d+\.0000<", page)  # counts are whole numbers
    assert page.count("<td>reid_rate</td>") + page.count(">reid_rate<") <= 1  # each metric shown once
    assert "Kernel is running over TCP" not in page


def test_unaware_run_page_says_it_does_not_read_age(tmp_path):
    from kit.report.run_page import fit_narrative
    from kit.run import build_population, fit_segmenter, validate_run

    for approach, expected in (
        ("unaware", "never reads age or gender"),
        ("minimised", "never reads age or gender"),
        ("kmeans", "reads age and gender directly"),
        ("mass", "no personal data"),
        ("oracle", "truth"),
    ):
        params = validate_run({"approach": approach, "n_customers": 1000})
        seg = fit_segmenter(params, build_population(params))
        assert expected in fit_narrative(params, seg), approach
    # Purpose limitation hides the income band from marketing: the page says so.
    params = validate_run({"approach": "kmeans", "n_customers": 1000})
    assert "hidden from it: `income_band`" in fit_narrative(params, fit_segmenter(params, build_population(params)))
    params = validate_run({"approach": "kmeans", "n_customers": 1000, "purpose_limitation": False})
    assert "hidden" not in fit_narrative(params, fit_segmenter(params, build_population(params)))


def test_metric_sections_cover_every_metric_once():
    metrics = {"gain_share": 0.5, "min_segment_size": 757, "di_older": 0.8, "consent_violations": 0, "new_x": 1.5}
    shown = [
        m
        for s in ("gain", "privacy", "fairness", "checks", "rights", "other")
        for m in metrics_section(metrics, s).index
    ]
    assert sorted(shown) == sorted(metrics)
    assert metrics_section(metrics, "privacy").loc["min_segment_size", "value"] == "757"
    assert section_of("new_x") == "other"


def test_link_checker_finds_broken_links_images_and_anchors(tmp_path):
    (tmp_path / "there.html").write_text("<p id='x'>x</p>")
    page = tmp_path / "page.html"
    page.write_text(
        "<a href='there.html#x'>ok</a><a href='#top' id='top'>ok</a><a href='https://example.org'>ext</a>"
        "<a href='missing.html'>1</a><a href='there.html#nope'>2</a><img src='gone.png'>"
        "<img src='data:image/png;base64,aGVsbG8='><a href='#nowhere'>3</a><a href='sub/'>4</a>"
    )
    (tmp_path / "sub").mkdir()
    problems = check_page(page)
    assert len(problems) == 6, problems
    for bit in ("missing.html", "'nope'", "gone.png", "not a PNG", "'nowhere'", "without index.html"):
        assert any(bit in p for p in problems), bit


def test_a_percent_encoded_anchor_resolves_as_in_a_browser(tmp_path):
    """nbconvert writes the id of a heading with an ε as 'price-of-%CE%B5' and links to it the same way;
    a browser finds it (raw fragment), so must the checker; a decoded id is found too."""
    page = tmp_path / "nb.html"
    page.write_text(
        "<h2 id='price-of-%CE%B5'>ε</h2><h2 id='gain-ε'>g</h2>"
        "<a href='#price-of-%CE%B5'>1</a><a href='#gain-%CE%B5'>2</a><a href='#loss-%CE%B5'>3</a>"
    )
    assert check_page(page) == [f"{page}: <a href=\"#loss-%CE%B5\">: no element with id 'loss-%CE%B5' in nb.html"]


def test_report_of_a_study_with_no_finished_run_has_no_broken_link(tmp_path):
    from kit.execution.runner import collect_results
    from kit.report.html import render_study_report
    from kit.study import load_study
    from tests.conftest import ROOT

    study = load_study(ROOT / "studies" / "smoke.yaml")
    out = tmp_path / "smoke"
    (out / "runs").mkdir(parents=True)
    index = render_study_report(study, collect_results(study, out), out)
    assert "No successful runs" in index.read_text()
    assert check_page(index) == []


def test_headline_findings_compare_with_the_study_reference(study_run, tmp_path):
    """The report's long-run section once reused the variable holding the study's reference and set
    it to "kmeans" (or None when no setting is labelled plain kmeans), so the default report, whose
    reference is kmeans(n_clusters=6), lost every paired finding and a study naming `reference: mass`
    wrote "against kmeans". Re-rendered here with mass as the reference."""
    import shutil

    from tests.conftest import run_cli

    path, out, code = study_run
    assert code == 0
    copy = tmp_path / "reports" / "e2e"
    shutil.copytree(out, copy)
    study = tmp_path / "e2e-mass.yaml"
    study.write_text(path.read_text() + "reference: mass\n")
    assert run_cli(["report", str(copy), "--study", str(study)]) == 0
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", (copy / "index.html").read_text()))
    start = text.index("Headline findings")
    findings = text[start : text.index("Trade-offs", start)]
    assert "paired with mass: gain share" in findings  # one world: the best setting's comparison
    assert "Comparisons with the reference setting mass are paired by world" in findings
    assert "kmeans: gain share" not in findings and "against kmeans" not in findings

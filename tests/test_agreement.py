import numpy as np
from scipy import stats

from idbench.stats.agreement import agreement, agreement_by_method, fisher_z_mean, krippendorff_alpha_interval, pairwise_accuracy


def test_against_scipy_and_loop():
    rng = np.random.default_rng(0)
    h = rng.integers(1, 6, 40).astype(float)
    m = h + rng.normal(0, 1.5, 40)
    a = agreement(m, h)
    assert np.isclose(a.pearson, stats.pearsonr(m, h)[0]) and np.isclose(a.spearman, stats.spearmanr(m, h)[0])
    assert np.isclose(a.kendall_tau_b, stats.kendalltau(m, h)[0])
    good = tot = 0.0
    for i in range(40):
        for j in range(i + 1, 40):
            if h[i] == h[j]:
                continue
            tot += 1
            good += 0.5 if m[i] == m[j] else float((m[i] > m[j]) == (h[i] > h[j]))
    assert np.isclose(a.pairwise_accuracy, good / tot)


def test_pairwise_accuracy_ties():
    assert pairwise_accuracy([1, 1], [1, 2]) == 0.5 and np.isnan(pairwise_accuracy([1, 2], [3, 3]))


def test_fisher_z_and_by_method():
    assert np.isclose(fisher_z_mean([0.5, 0.5]), 0.5)
    assert np.isclose(fisher_z_mean([0.2, 0.8]), np.tanh((np.arctanh(0.2) + np.arctanh(0.8)) / 2))
    rng = np.random.default_rng(1)
    h = rng.normal(size=60); m = h + rng.normal(0, 1, 60); meth = np.repeat(["a", "b", "c"], 20)
    r = agreement_by_method(m, h, meth)
    assert set(r["per_method"]) == {"a", "b", "c"}
    assert np.isclose(r["fisher_z_mean"]["pearson"], fisher_z_mean([r["per_method"][k]["pearson"] for k in "abc"]))


def test_krippendorff_interval_against_package_and_perfect_agreement():
    import krippendorff

    rng = np.random.default_rng(2)
    x = rng.integers(1, 6, 30).astype(float)
    data = np.vstack([x, x + rng.normal(0, 0.5, 30)])
    data[1, 3] = np.nan
    assert np.isclose(krippendorff_alpha_interval(data)[0],
                      krippendorff.alpha(reliability_data=data, level_of_measurement="interval"))
    assert np.isclose(krippendorff_alpha_interval(np.vstack([x, x]))[0], 1.0)
    # undefined cases say why instead of raising (krippendorff: "more than one value in the domain")
    a, why = krippendorff_alpha_interval(np.ones((2, 5)))
    assert np.isnan(a) and "same value" in why
    a, why = krippendorff_alpha_interval(np.array([[1.0, np.nan], [np.nan, 2.0]]))
    assert np.isnan(a) and "two raters" in why


def test_one_metric_agreeing_better_is_significant_and_equals_are_not():
    """Ratings built from metric A plus small noise, B plus large noise, and C an independent copy of
    A's quality: A beats B significantly; A and C are not separated."""
    from idbench.stats.agreement import compare_agreements, williams_t

    rng = np.random.default_rng(0)
    n = 150
    truth = rng.normal(size=n)
    human = truth + 0.3 * rng.normal(size=n)
    scores = {"A": truth + 0.2 * rng.normal(size=n), "B": truth + 2.0 * rng.normal(size=n),
              "C": truth + 0.2 * rng.normal(size=n)}
    comps = {(c["a"], c["b"]): c for c in compare_agreements(scores, human, np.arange(n), n_resamples=600, seed=1)}
    ab, ac = comps[("A", "B")], comps[("A", "C")]
    assert ab["pearson"]["significant"] and ab["kendall_tau_b"]["significant"] and ab["pearson"]["diff"] > 0.2
    assert ab["pearson"]["ci"][0] > 0 and ab["pearson"]["williams_p_holm"] < 0.05
    assert not ac["pearson"]["significant"] and not ac["kendall_tau_b"]["significant"]
    assert ac["pearson"]["ci"][0] < 0 < ac["pearson"]["ci"][1] and ac["pearson"]["williams_p"] > 0.05
    # Williams' t by the formula, written out
    x, y = scores["A"], scores["B"]
    r12, r13, r23 = np.corrcoef(x, human)[0, 1], np.corrcoef(y, human)[0, 1], np.corrcoef(x, y)[0, 1]
    det = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / (2 * (n - 1) / (n - 3) * det + ((r12 + r13) / 2) ** 2 * (1 - r23) ** 3))
    assert np.isclose(williams_t(r12, r13, r23, n)[0], t)


def test_human_ceiling_and_aspects_through_the_cli(tmp_path):
    from idbench.results import Results

    rng = np.random.default_rng(2)
    res = Results(command="x")
    res.add_metric("good", "g")
    res.add_metric("bad", "b")
    quality = rng.normal(size=60)
    for i in range(60):
        res.rows.append({"method": f"m{i % 3}", "subject": f"s{i % 10}", "image_id": f"i{i}", "path": "", "prompt": "",
                         "good": float(quality[i] + 0.1 * rng.normal()), "bad": float(rng.normal())})
    res.summarise(n_resamples=100)
    res.write(tmp_path / "res")
    lines = ["image_id,score,rater,aspect"]
    for i in range(60):
        for rater in ("r1", "r2"):
            lines.append(f"i{i},{quality[i] + 0.3 * rng.normal():.4f},{rater},overall")
            lines.append(f"i{i},{rng.normal():.4f},{rater},relation")
    (tmp_path / "h.csv").write_text("\n".join(lines) + "\n")
    from click.testing import CliRunner

    from idbench.cli.main import cli

    r = CliRunner().invoke(cli, ["agree", str(tmp_path / "res"), "--human", str(tmp_path / "h.csv"), "--bootstrap", "300"])
    assert r.exit_code == 0, r.output
    assert "Kendall tau-b with the human ratings, per aspect:" in r.output and "relation" in r.output
    assert "human-human ceiling (2 raters" in r.output
    pair = next(x for x in r.output.splitlines() if x.startswith("good - bad"))
    assert pair.rstrip().endswith("*")
    import json

    a = json.loads((tmp_path / "res" / "agreement.json").read_text())
    assert set(a["aspects"]) == {"overall", "relation"} and a["human_ceiling"]["pearson"] > 0.5
    # the report shows the same analysis in Stellar's layout: a column per aspect, the ceiling, and a metric
    # named closer to people only where the test separates the pair
    from idbench.report.html import render_report

    html = render_report(tmp_path / "res").read_text()
    assert "Kendall τ-b with the human ratings, per aspect" in html and "<th>relation</th>" in html
    assert "human–human (ceiling)" in html
    assert "<td>good − bad</td>" in html and "<td>good</td></tr>" in html

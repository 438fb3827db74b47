"""Interval maths checked against values computed by hand (and textbook tables)."""

import math

import pytest

from medvl.evaluate import stats


def test_wilson_8_of_10_by_hand():
    # p = .8, z^2 = 3.8415; centre = (.8 + .19207)/1.38415 = .71678;
    # half = 1.96 * sqrt(.016 + .0096037)/1.38415 = .22658
    lo, hi = stats.wilson_interval(8, 10)
    assert lo == pytest.approx(0.71678 - 0.22658, abs=2e-4)
    assert hi == pytest.approx(0.71678 + 0.22658, abs=2e-4)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)


def test_wilson_edges():
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = stats.wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.2775, abs=1e-4)
    assert stats.wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        stats.wilson_interval(3, 2)
    p = stats.proportion(0, 0)
    assert p["p"] is None and p["lo"] is None


@pytest.mark.parametrize("df,expected", [(1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423)])
def test_t_quantiles_match_tables(df, expected):
    assert stats.t_ppf(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_cdf_symmetry_and_centre():
    assert stats.t_cdf(0.0, 5) == pytest.approx(0.5)
    assert stats.t_cdf(-1.3, 7) == pytest.approx(1 - stats.t_cdf(1.3, 7))
    # Cauchy (df=1): cdf(1) = 0.75
    assert stats.t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-9)


def test_t_interval_by_hand():
    # mean 3, s = sqrt(2.5), se = .70711, t(.975, 4) = 2.77645 -> half 1.96324
    lo, hi = stats.t_interval([1, 2, 3, 4, 5])
    assert lo == pytest.approx(3 - 1.96324, abs=1e-4)
    assert hi == pytest.approx(3 + 1.96324, abs=1e-4)
    assert stats.t_interval([4]) is None


def test_mean_ci_methods():
    vals = [1, 2, 2, 3, 3, 3, 4, 4, 5, 5]
    t = stats.mean_ci(vals, "t")
    b = stats.mean_ci(vals, "bootstrap", seed=1)
    assert t["mean"] == pytest.approx(3.2) and b["mean"] == pytest.approx(3.2)
    assert t["lo"] < 3.2 < t["hi"]
    assert b["lo"] < 3.2 < b["hi"]
    # the bootstrap interval is close to (slightly narrower than) the t interval
    assert abs(b["lo"] - t["lo"]) < 0.3 and abs(b["hi"] - t["hi"]) < 0.3
    assert stats.mean_ci(vals, "bootstrap", seed=1) == b  # deterministic
    const = stats.mean_ci([4, 4, 4])
    assert (const["lo"], const["hi"]) == (4.0, 4.0)
    one = stats.mean_ci([2])
    assert one["mean"] == 2 and one["lo"] is None
    with pytest.raises(ValueError):
        stats.mean_ci(vals, "bayes")


def test_aggregate_scores_histogram_and_low_share():
    rows = [{"faithful": 5, "complete": 1}, {"faithful": 4, "complete": 2}, {"faithful": 5, "complete": 5}]
    agg = stats.aggregate_scores(rows)
    assert agg["faithful"]["histogram"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 2}
    assert agg["complete"]["low_share"]["k"] == 2 and agg["complete"]["low_share"]["n"] == 3
    assert agg["faithful"]["mean"] == pytest.approx(14 / 3)


def test_binary_agreement_by_hand():
    pred = [True, True, True, False, False]
    act = [True, False, True, True, False]
    a = stats.binary_agreement(pred, act)
    assert (a["tp"], a["fp"], a["fn"], a["tn"]) == (2, 1, 1, 1)
    assert a["precision"]["p"] == pytest.approx(2 / 3)
    assert a["recall"]["p"] == pytest.approx(2 / 3)
    # po = .6, pe = (3*3 + 2*2)/25 = .52 -> kappa = .08/.48
    assert a["kappa"] == pytest.approx(0.08 / 0.48)
    with pytest.raises(ValueError):
        stats.binary_agreement([True], [])


def test_fmt_ci():
    assert stats.fmt_ci({"mean": 3.456, "lo": 3.0, "hi": 3.9}) == "3.46 [3.00, 3.90]"
    assert stats.fmt_ci(stats.proportion(8, 10), percent=True) == "80% [49%, 94%]"
    assert stats.fmt_ci(None) == "–"
    assert not math.isnan(stats.betainc(2, 3, 0.4))


def test_mean_ci_bounds_clip_to_score_range():
    wide = stats.mean_ci([1, 5])  # t(.975, 1) = 12.7 -> far outside 1..5
    assert wide["lo"] < 1 and wide["hi"] > 5
    clipped = stats.mean_ci([1, 5], bounds=(1, 5))
    assert (clipped["lo"], clipped["hi"]) == (1, 5)
    agg = stats.aggregate_scores([{"c": 1}, {"c": 5}])
    assert agg["c"]["lo"] == 1 and agg["c"]["hi"] == 5

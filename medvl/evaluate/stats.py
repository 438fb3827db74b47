"""Confidence intervals and aggregation for judge scores and agreement with gold.

Wilson score intervals for proportions and Student-t intervals (scipy.stats),
percentile-bootstrap intervals for means, and flag precision/recall against a
gold standard.  Every interval is returned as a small dict that serialises to
JSON as-is (``judge_summary.json``) and renders in the report.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence


# ---------------------------------------------------------------- special functions (scipy)
# scipy is a core dependency; imported inside the functions because scipy.stats takes a while to import

def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    from scipy.special import betainc as _betainc

    return float(_betainc(a, b, min(max(x, 0.0), 1.0)))


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    from scipy.stats import t as student_t

    return float(student_t.cdf(t, df))


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t."""
    if not 0.0 < q < 1.0:
        raise ValueError("quantile must be in (0, 1)")
    from scipy.stats import t as student_t

    return float(student_t.ppf(q, df))


# ---------------------------------------------------------------- intervals

def wilson_interval(k: int, n: int, conf: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion k/n (scipy's binomtest); None when n == 0."""
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"k={k} must lie in [0, n={n}]")
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=conf, method="wilson")
    return float(ci.low), float(ci.high)


def proportion(k: int, n: int, conf: float = 0.95) -> dict:
    """A proportion with its Wilson interval: {k, n, p, lo, hi, method}."""
    ci = wilson_interval(k, n, conf)
    return {"k": int(k), "n": int(n), "p": (k / n) if n else None,
            "lo": ci[0] if ci else None, "hi": ci[1] if ci else None, "method": "wilson"}


def t_interval(values: Sequence[float], conf: float = 0.95) -> tuple[float, float] | None:
    """Student-t interval of the mean (scipy.stats.t.interval); None for fewer than 2 values."""
    n = len(values)
    if n < 2:
        return None
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    if sd == 0.0:  # scipy wants a positive scale
        return m, m
    from scipy.stats import t as student_t

    lo, hi = student_t.interval(conf, n - 1, loc=m, scale=sd / math.sqrt(n))
    return float(lo), float(hi)


def bootstrap_interval(values: Sequence[float], conf: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean (deterministic for a given seed)."""
    n = len(values)
    if n < 2:
        return None
    import numpy as np

    rng = np.random.default_rng(seed)
    arr = np.asarray(values, dtype=float)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = arr[idx].mean(axis=1)
    alpha = (1.0 - conf) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def mean_ci(values: Iterable[float], method: str = "t", conf: float = 0.95, seed: int = 0,
            bounds: tuple[float, float] | None = None) -> dict:
    """Mean with an interval: {n, mean, sd, lo, hi, method}; lo/hi are None for n < 2.

    `bounds` (e.g. (1, 5) for judge scores) clips the interval to the values' possible range;
    the t interval of a handful of scores can otherwise reach outside it.
    """
    vals = [float(v) for v in values]
    n = len(vals)
    if method not in ("t", "bootstrap"):
        raise ValueError(f"unknown interval method {method!r} (use 't' or 'bootstrap')")
    mean = sum(vals) / n if n else None
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else None
    if n > 1 and sd == 0.0:
        ci: tuple[float, float] | None = (mean, mean)
    elif method == "t":
        ci = t_interval(vals, conf)
    else:
        ci = bootstrap_interval(vals, conf, seed=seed)
    if ci and bounds:
        ci = (max(bounds[0], ci[0]), min(bounds[1], ci[1]))
    return {"n": n, "mean": mean, "sd": sd, "lo": ci[0] if ci else None,
            "hi": ci[1] if ci else None, "method": method}


# ---------------------------------------------------------------- aggregation

def score_histogram(values: Iterable[int], lo: int = 1, hi: int = 5) -> dict[str, int]:
    c = Counter(int(v) for v in values)
    return {str(s): c.get(s, 0) for s in range(lo, hi + 1)}


def aggregate_scores(rows: Iterable[dict[str, int]], method: str = "t", conf: float = 0.95,
                     low: int = 2) -> dict[str, dict]:
    """Per criterion: mean with interval, histogram, and the share of scores <= `low` (Wilson)."""
    by: dict[str, list[int]] = {}
    for scores in rows:
        for crit, s in scores.items():
            by.setdefault(crit, []).append(int(s))
    out = {}
    for crit in sorted(by):
        vals = by[crit]
        out[crit] = {**mean_ci(vals, method=method, conf=conf, bounds=(1, 5)),
                     "histogram": score_histogram(vals),
                     "low_share": proportion(sum(1 for v in vals if v <= low), len(vals), conf)}
    return out


def binary_agreement(predicted: Sequence[bool], actual: Sequence[bool], conf: float = 0.95) -> dict:
    """How well `predicted` (e.g. judge flags) finds `actual` (e.g. disagreement with gold).

    precision = P(actual | predicted), recall = P(predicted | actual), both with Wilson
    intervals, plus accuracy, the confusion counts and Cohen's kappa.
    """
    if len(predicted) != len(actual):
        raise ValueError("predicted and actual must have the same length")
    tp = sum(1 for p, a in zip(predicted, actual) if p and a)
    fp = sum(1 for p, a in zip(predicted, actual) if p and not a)
    fn = sum(1 for p, a in zip(predicted, actual) if not p and a)
    tn = sum(1 for p, a in zip(predicted, actual) if not p and not a)
    n = tp + fp + fn + tn
    kappa = None
    if n:
        po = (tp + tn) / n
        pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
        kappa = (po - pe) / (1 - pe) if pe < 1 else (1.0 if po == 1 else 0.0)
    return {"n": n, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": proportion(tp, tp + fp, conf),
            "recall": proportion(tp, tp + fn, conf),
            "accuracy": proportion(tp + tn, n, conf),
            "kappa": kappa}


def fmt_ci(d: dict | None, digits: int = 2, percent: bool = False) -> str:
    """'3.41 [3.10, 3.72]' or '81% [49%, 94%]' for a mean_ci / proportion dict."""
    if not d:
        return "–"
    v = d.get("mean", d.get("p"))
    if v is None:
        return "–"
    if percent:
        f = lambda x: f"{100 * x:.0f}%"  # noqa: E731
    else:
        f = lambda x: f"{x:.{digits}f}"  # noqa: E731
    if d.get("lo") is None:
        return f(v)
    return f"{f(v)} [{f(d['lo'])}, {f(d['hi'])}]"

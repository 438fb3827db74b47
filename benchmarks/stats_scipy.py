"""Compare medvl.evaluate.stats (scipy.stats since issue 12) with its hand-written predecessor.

Usage: python benchmarks/stats_scipy.py OLD_STATS.py   (e.g. `git show 54d7f92:medvl/evaluate/stats.py > old.py`)
Prints the largest absolute difference of t_cdf, t_ppf, mean_ci, Wilson and t intervals over grids and random inputs.
"""

import importlib.util
import random
import sys

from medvl.evaluate import stats as new

spec = importlib.util.spec_from_file_location("old_stats", sys.argv[1])
old = importlib.util.module_from_spec(spec)
sys.modules["old_stats"] = old
spec.loader.exec_module(old)

dfs = [1, 2, 3, 5, 7, 10, 30, 100, 1000]
ts = [-10, -3, -1.3, -0.2, 0, 0.2, 1, 2.5, 8]
qs = [0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995]
d_cdf = max(abs(new.t_cdf(t, df) - old.t_cdf(t, df)) for t in ts for df in dfs)
d_ppf = max(abs(new.t_ppf(q, df) - old.t_ppf(q, df)) for q in qs for df in dfs)
rng = random.Random(0)
d_ci, same_rounded = 0.0, 0
cases = 0
for _ in range(300):
    vals = [rng.randint(1, 5) for _ in range(rng.randint(2, 60))]
    for method in ("t", "bootstrap"):
        a, b = new.mean_ci(vals, method=method), old.mean_ci(vals, method=method)
        for k in ("lo", "hi"):
            if a.get(k) is not None:
                d_ci = max(d_ci, abs(a[k] - b[k]))
        cases += 1
        same_rounded += new.fmt_ci(a) == old.fmt_ci(b)
print(f"t_cdf max |new-old| {d_cdf:.2e}; t_ppf max |new-old| {d_ppf:.2e}")
print(f"mean_ci bounds max |new-old| {d_ci:.2e}; formatted intervals identical in {same_rounded}/{cases} cases")
d_prop = max(abs(new.proportion(k, n)[x] - old.proportion(k, n)[x]) for n in range(1, 80) for k in range(n + 1)
             for x in ("lo", "hi"))
print(f"proportion (Wilson) bounds max |new-old| {d_prop:.2e} (the old z came from a t quantile with df=1e9)")

# Wilson via scipy.stats.binomtest(...).proportion_ci and the t interval via scipy.stats.t.interval
# (after 657d436; the old module's wilson_interval takes z, the new one the confidence level)
rng = random.Random(1)
d_w = d_t = 0.0
same_w = same_t = n_w = n_t = 0
for _ in range(5000):
    n = rng.randint(1, 400)
    k, conf = rng.randint(0, n), rng.choice([0.8, 0.9, 0.95, 0.99])
    a, b = new.wilson_interval(k, n, conf), old.wilson_interval(k, n, old._z_for(conf))
    d_w, same_w, n_w = max(d_w, abs(a[0] - b[0]), abs(a[1] - b[1])), same_w + (a == b), n_w + 1
for _ in range(5000):
    vals = [rng.gauss(0, 3) if rng.random() < 0.5 else rng.randint(1, 5) for _ in range(rng.randint(2, 60))]
    conf = rng.choice([0.9, 0.95, 0.99])
    a, b = new.t_interval(vals, conf), old.t_interval(vals, conf)
    d_t, n_t = max(d_t, abs(a[0] - b[0]), abs(a[1] - b[1])), n_t + 1
    same_t += new.fmt_ci({"mean": 0, "lo": a[0], "hi": a[1]}) == old.fmt_ci({"mean": 0, "lo": b[0], "hi": b[1]})
print(f"wilson_interval max |new-old| {d_w:.2e} over {n_w} random (k, n, conf); bit-identical in {same_w}")
print(f"t_interval max |new-old| {d_t:.2e} over {n_t} random samples; formatted identical in {same_t}/{n_t}")

"""Compare the panel-letter assignment (medvl.pdf.panels._hungarian, scipy since issue 12) with the
hand-written Hungarian method it replaced.

Usage: python benchmarks/hungarian_scipy.py OLD_PANELS.py  (`git show 3c8a1e0:medvl/pdf/panels.py > old.py`)
Prints, over random matrices of the sizes figures have (1-12 letters x 1-12 panels; float costs and small
integer costs with many ties), how often the assignments are identical and the largest cost difference.
"""

import importlib.util
import random
import sys

from medvl.pdf.panels import _hungarian as new

spec = importlib.util.spec_from_file_location("old_panels", sys.argv[1])
old_mod = importlib.util.module_from_spec(spec)
sys.modules["old_panels"] = old_mod  # (dataclasses look their module up)
spec.loader.exec_module(old_mod)
old = old_mod._hungarian

rng = random.Random(0)
for kind in ("float", "ties"):
    same, worst, n_cases = 0, 0.0, 2000
    for _ in range(n_cases):
        n, m = rng.randint(1, 12), rng.randint(1, 12)
        cost = [[(rng.random() * 10 if kind == "float" else float(rng.randint(0, 3))) for _ in range(m)]
                for _ in range(n)]
        a, b = new(cost), old(cost)
        same += sorted(a) == sorted(b)  # (the old one returned n > m pairs unsorted)
        worst = max(worst, abs(sum(cost[r][c] for r, c in a) - sum(cost[r][c] for r, c in b)))
    print(f"{kind}: identical assignment {same}/{n_cases}; largest total-cost difference {worst:.2e}")

"""The built-in stages whose adapters live outside the engine: importing this package registers them with
medvl.pipeline (each module: its settings, plan or run function, and one `register(Stage(...))`).

parse, split and align are still registered in medvl/pipeline.py (moving them is left for when the
engineers editing them have landed); tag registers itself (medvl/tag/register.py).
"""

from medvl.stages import collect, evaluation, export, judge, report, synth, train  # noqa: F401

"""The built-in stages: importing this package registers them with medvl.pipeline (each module: its
settings, plan or run function, and one `register(Stage(...))`); tag registers itself
(medvl/tag/register.py).
"""

from medvl.stages import (align, collect, evaluation, export, judge, parse, report, split, synth,  # noqa: F401
                          train)

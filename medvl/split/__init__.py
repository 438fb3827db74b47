"""Subcaption splitting: turn a figure caption into labelled subcaptions.

* `medvl.split.rules`: deterministic rule splitter (`split_caption`, `RULES_VERSION`);
* `medvl.split.labels`: label normalisation shared by every splitter (`normalise_label`, `expand_labels`);
* `medvl.split.metrics`: scores against a gold set (`score_predictions`);
* `medvl.split.goldsets`: gold sets read at run time (SourceData halves, span gold rebuilt from sources);
* `medvl.split.ruleversion`: the rules' version, a hash of their code (`rules_version`);
* `medvl.split.verbatim`: the one definition of a verbatim subcaption text and its caption offsets;
* `medvl.split.splitter`: what a splitter is (`Splitter`), found by name in `medvl.registry.SPLITTERS`.

Importing this package pulls in no heavy dependencies.
"""

from medvl.split.labels import SHARED, expand_labels, normalise_label
from medvl.split.metrics import score_predictions
from medvl.split.rules import RULES_VERSION, split_caption

__all__ = ["SHARED", "RULES_VERSION", "expand_labels", "normalise_label", "score_predictions", "split_caption"]

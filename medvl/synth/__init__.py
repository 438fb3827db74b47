"""Synthetic corpus with known answers: PDFs with compound figures of drawn brain-MRI-like scans.

`generate_corpus(out_dir, papers, seed)` writes DIR/papers/*.pdf and DIR/ground_truth.json.
Core-only dependencies (numpy, pillow, pymupdf, pyyaml); no torch.
"""

from medvl.synth.corpus import DEFAULT_DPI, SYNTH_VERSION, generate_corpus, load_ground_truth
from medvl.synth.images import CLASSES, draw_scan
from medvl.synth.text import norm_text

__all__ = ["CLASSES", "DEFAULT_DPI", "SYNTH_VERSION", "draw_scan", "generate_corpus", "load_ground_truth", "norm_text"]

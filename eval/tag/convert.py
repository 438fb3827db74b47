"""Copy the blind annotator's panel batches into eval/tag/ as data: paper folder, figure label, panel
boxes and per-panel modality / sequence / anatomy / caption_label only (the notes are left out: they
may quote captions).  python eval/tag/convert.py /work/gold_work/panels [GLOB]

GLOB (default batch*.jsonl) picks the annotator's files; each becomes panels_<its name>.jsonl here."""

import json
import sys
from pathlib import Path

KEEP = ("paper", "label", "panels", "boxes")
TAG_KEYS = ("modality", "sequence", "anatomy", "caption_label")

src = Path(sys.argv[1])
for p in sorted(src.glob(sys.argv[2] if len(sys.argv) > 2 else "batch*.jsonl")):
    out = Path(__file__).resolve().parent / f"panels_{p.stem}.jsonl"
    with open(p) as fh, open(out, "w") as w:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                row = {k: r[k] for k in KEEP}
                row["panel_tags"] = [{k: t.get(k) for k in TAG_KEYS} for t in r["panel_tags"]]
                w.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(out)

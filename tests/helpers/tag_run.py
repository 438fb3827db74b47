"""A run folder of tagged-test papers (six panels whose captions name a modality and anatomy), built in
code for the tag tests (tests/test_tag*.py) and the export keep filter, and the fake model that answers the
LLM tagger for them. Every caption here is written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

from medvl.records import Figure, Pair, Panel, Provenance, figure_id, pair_id, panel_id
from medvl.runs import RunDir, read_jsonl, write_jsonl
from medvl.tag.llm import text_words
from medvl.tag.stage import TagSettings, tag_run
from tests.helpers.fake_llm import Reply

PROV = Provenance(stage="test", stage_version="0", input_sha256="0" * 64)
TEXT_ONLY = TagSettings(image="off")

PANELS = [
    ("(A) Axial T2-weighted MRI showing a glioma in the left frontal lobe.", "mri", "brain"),
    ("(B) Non-contrast CT of the head: acute subdural haematoma.", "ct", "brain"),
    ("(C) Chest X-ray with a right lower lobe opacity.", "xray", "chest"),
    ("(D) Histology, H&E, magnification x400.", "histology", None),
    ("(E) Sagittal MRI of the lumbar spine, L4-L5 disc herniation.", "mri", "spine"),
    ("(F) Kaplan-Meier survival curve.", "chart", None),
]


def _png(rd: RunDir, rel: str, seed: int) -> str:
    import numpy as np
    from PIL import Image

    p = rd.inside(rel)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (20, 24), dtype=np.uint8)).save(p)
    return rel


def build_run(root: Path, n_papers: int = 4) -> RunDir:
    rd = RunDir(root)
    figs, pairs = [], []
    for i in range(n_papers):
        pid = f"p{i:016x}"
        fid = figure_id(pid, 1, 0)
        panels = []
        for k, (text, _, _) in enumerate(PANELS):
            label = "ABCDEF"[k]
            pn = panel_id(fid, k)
            img = _png(rd, f"images/{pid}/{pn}.png", i * 100 + k)
            panels.append(Panel(panel_id=pn, bbox=[0, 0, 24, 20], label=label, label_source="pdf_text", image=img))
            pairs.append(Pair(pair_id=pair_id(fid, label, k), image=img, text=text, figure_id=fid, paper_id=pid,
                              panel_id=pn, label=label, method="letter", confidence=0.9, provenance=PROV))
        figs.append(Figure(paper_id=pid, figure_id=fid, source=f"{pid}.pdf", page=1, index=0, label="Figure 1",
                           caption="Figure 1. " + " ".join(t for t, _, _ in PANELS),
                           image=_png(rd, f"images/{pid}/{fid}.png", 999 + i), panels=panels, provenance=PROV))
    write_jsonl(rd.file("figures.jsonl"), figs)
    write_jsonl(rd.file("pairs.jsonl"), pairs)
    return rd


def build_engine_run(root: Path, n_papers: int = 2) -> RunDir:
    """build_run with its figures and pairs also as the parse and align units of the engine (one per paper),
    so that the tag stage runs on it through the engine (medvl run, medvl tag RUN_DIR) without parsing PDFs."""
    rd = build_run(root, n_papers)
    for name, path in (("parse", "figures.jsonl"), ("align", "pairs.jsonl")):
        by_paper: dict[str, list[dict]] = {}
        for row in read_jsonl(rd.file(path)):
            by_paper.setdefault(row["paper_id"], []).append(row)
        for key, rows in by_paper.items():
            rd.write_unit(name, key, rows)
    return rd


def write_tags(rd: RunDir) -> None:
    write_jsonl(rd.file("tags.jsonl"), tag_run(rd.path, TEXT_ONLY))


def fake_answer(panel: str) -> dict:
    """What the fake model says: CT of the chest for everything (the text tagger reads other things),
    an invalid answer (evidence not in the text) for the histology panel."""
    words = text_words(panel)
    if panel.startswith("(D) Histology"):
        return {"evidence": ["gadolinium"], "modality": "mri", "sequences": [], "anatomy": "brain", "findings": []}
    return {"evidence": [words[0]], "modality": "ct", "sequences": [], "anatomy": "chest", "findings": []}


def fake_responder(body: dict, n: int) -> Reply:
    # the row's own turn (a re-ask adds the validation error as a later user turn)
    user = [m["content"] for m in body["messages"] if m["role"] == "user" and "Panel: " in m["content"]][-1]
    panel = user.split("Panel: ", 1)[1].split("\n", 1)[0]
    return Reply(content=json.dumps(fake_answer(panel)))

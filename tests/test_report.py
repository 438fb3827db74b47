"""`medvl report` on run directories built in code: sections, ordering, graceful degradation."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest

from medvl.errors import InputError
from medvl.evaluate import report as rep

from tests.helpers.report_run import make_run


def _data_uris(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/(?:png|jpeg);base64,([^"]+)"', html)]


def test_full_report_sections_and_images(tmp_path):
    info = make_run(tmp_path / "run")
    out = rep.build_report(tmp_path / "run")
    assert out == (tmp_path / "run" / "report.html").resolve() or out.name == "report.html"
    html = out.read_text(encoding="utf-8")
    # one gallery article per figure
    assert len(re.findall(r'<article class="fig', html)) == 3
    for sec in ("overview", "rejects", "judge", "worst", "eval", "gallery", "settings"):
        assert f'id="{sec}"' in html, sec
    # every embedded image decodes, and the figure images are the drawn (enlarged) figures
    from PIL import Image

    imgs = [Image.open(io.BytesIO(b)) for b in _data_uris(html)]
    assert len(imgs) >= 2 + 3  # 2 figures with images + rejects, score and recall plots
    for im in imgs:
        im.load()
        assert im.width > 0 and im.height > 0
    # self-contained: no external resources of any kind
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html and "@import" not in html
    # caption text is escaped; subcaptions are highlighted with their panel colour
    assert "&lt;and&gt;" in html
    assert html.count("<mark ") == 2 + 3  # figure 1: A, B; figure 2: _shared, a, b (d is not verbatim)
    assert "not verbatim in the caption" in html
    # raw vs aligned retrieval table
    assert "eval/raw" in html and "eval/aligned" in html and "25.0" in html
    assert info["figures"][0] in html
    # `medvl eval compare` table: aligned better on R@1 (green), worse on median rank (red)
    cmp = html[html.index("Raw vs aligned pairs"):]
    assert "+15.0" in cmp and "+2.0" in cmp
    assert cmp.index("s-good") < cmp.index("s-bad")


def test_gallery_puts_worst_judged_first(tmp_path):
    info = make_run(tmp_path / "run")
    html = rep.build_report(tmp_path / "run").read_text(encoding="utf-8")
    order = re.findall(r'data-figure-id="([^"]+)"', html)
    f1, f2, f3 = info["figures"]
    assert order == [f2, f1, f3]  # f2 judged 2.5, f1 4.5, f3 not judged
    worst = html[html.index('id="worst"'):html.index('id="eval"')]
    assert worst.index(f2) < worst.index(f1)


def test_figure_drawing_boxes_and_letters(tmp_path):
    info = make_run(tmp_path / "run", judged=False, metrics=False)
    fig = json.loads((tmp_path / "run" / "figures.jsonl").read_text().splitlines()[0])
    colours = rep.panel_colours(fig["panels"])
    img = rep.render_figure(tmp_path / "run" / fig["image"], fig, colours)
    assert img.width == 480  # a 240 px figure is enlarged for the page
    # the outline of panel A is drawn in panel A's colour near its left edge
    r, g, b = (int(colours["a"][i:i + 2], 16) for i in (1, 3, 5))
    px = img.getpixel((1, img.height // 2))
    assert sum(abs(x - y) for x, y in zip(px, (r, g, b))) < 60, px
    assert info["figures"][0] == fig["figure_id"]


def test_minimal_run_with_only_figures(tmp_path):
    make_run(tmp_path / "run", judged=False, metrics=False)
    for name in ("subcaptions.jsonl", "pairs.jsonl", "rejects.jsonl", "run.json"):
        (tmp_path / "run" / name).unlink()
    html = rep.build_report(tmp_path / "run").read_text(encoding="utf-8")
    assert len(re.findall(r'<article class="fig', html)) == 3
    assert 'id="judge"' not in html and 'id="eval"' not in html
    assert "Not in this run" in html and "subcaptions.jsonl" in html
    assert "No <code>run.json</code>" in html
    md = rep.build_report(tmp_path / "run", fmt="md").read_text(encoding="utf-8")
    assert "3 figures" in md and "LLM judge" not in md


def test_bad_lines_and_missing_images_are_reported_not_fatal(tmp_path):
    info = make_run(tmp_path / "run")
    run = tmp_path / "run"
    with open(run / "judgments.jsonl", "a") as fh:
        fh.write("{not json\n")
    (run / "images" / f"{info['figures'][0]}.png").unlink()
    (run / "eval" / "raw" / "metrics.json").write_text("[1, 2")
    html = rep.build_report(run).read_text(encoding="utf-8")
    assert 'id="problems"' in html
    assert "judgments.jsonl:5: not valid JSON" in html
    assert "image not found" in html
    assert "eval/raw/metrics.json: could not be read" in html
    assert len(re.findall(r'<article class="fig', html)) == 3


def test_markdown_summary_fits_a_pull_request(tmp_path):
    make_run(tmp_path / "run")
    md = rep.build_report(tmp_path / "run", fmt="md").read_text(encoding="utf-8")
    assert md.startswith("### medvl report")
    assert "| splits | `judge/splits@1` |" in md
    assert "Worst-judged" in md and "mixed_panels" in md
    assert "| eval/aligned | image → text | 25.0 |" in md
    assert "| image → text R@1 | 10.0 | 25.0 | +15.0 |" in md
    assert "data:image" not in md
    assert len(md.splitlines()) < 120
    # every table row has the same number of cells as its header
    for block in re.split(r"\n\n", md):
        rows = [ln for ln in block.splitlines() if ln.startswith("|")]
        if rows:
            assert len({ln.rstrip().rstrip("|").count(" | ") for ln in rows if not ln.startswith("|-")}) == 1, block


def test_no_embed_writes_one_folder_beside_the_page(tmp_path):
    make_run(tmp_path / "run")
    out = rep.build_report(tmp_path / "run", out=tmp_path / "site" / "r.html", embed=False)
    html = out.read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert srcs and all(s.startswith("r_files/") for s in srcs)
    for s in srcs:
        assert (out.parent / s).is_file()


def test_max_figures_limits_gallery(tmp_path):
    make_run(tmp_path / "run")
    html = rep.build_report(tmp_path / "run", max_figures=1).read_text(encoding="utf-8")
    assert len(re.findall(r'<article class="fig', html)) == 1
    assert "2 more figures not shown" in html


def test_empty_or_missing_run_dir_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        rep.build_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no run outputs"):
        rep.build_report(tmp_path / "empty")
    make_run(tmp_path / "run", judged=False, metrics=False)
    with pytest.raises(InputError, match="unknown report format"):
        rep.build_report(tmp_path / "run", fmt="pdf")


def test_highlight_caption_whitespace_and_missing():
    cap = "Figure 1. (A) Axial  T2\nimage. (B) Coronal image."
    colours = {"a": "#0072B2", "b": "#E69F00"}
    html, info = rep.highlight_caption(cap, [{"label": "A", "text": "Axial T2 image."},
                                             {"label": "B", "text": "Sagittal image."}], colours)
    assert info[0]["found"] and not info[1]["found"]
    assert '<mark style="--c:#0072B2' in html and "Axial  T2\nimage.</mark>" in html
    assert html.count("<mark") == 1


def test_recall_curves_found_in_any_shape():
    m = {"retrieval": {"image_to_text": {"R@1": 0.1, "R@5": 0.3, "R@10": 0.5, "mean_rank": 3.0},
                       "chance": {"R@1": 0.01, "R@5": 0.05}}}
    curves = rep.find_recall_curves(m)
    assert curves["retrieval"]["image_to_text"] == [(1.0, 0.1), (5.0, 0.3), (10.0, 0.5)]
    both = rep.combined_recall_curves([("eval/raw/metrics.json", m), ("eval/aligned/metrics.json", m)])
    assert set(both["image_to_text"]) == {"eval/raw", "eval/aligned", "chance"}
    alt = rep.find_recall_curves({"models": [{"name": "raw", "recall@1": 0.2, "recall@5": 0.4}]})
    assert alt["models"]["raw"] == [(1.0, 0.2), (5.0, 0.4)]


def test_prompt_comparison_from_medvl_prompts_compare(tmp_path):
    """compare.json written by the real `medvl prompts compare` code (rule splitter only: no LLM)."""
    from medvl.split.compare import compare_splitters

    make_run(tmp_path / "run", judged=False, metrics=False)
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in [
        {"id": "g1", "caption": "CT scan. (A) Axial view. (B) Coronal view.",
         "subcaptions": [{"label": "_shared", "text": "CT scan."}, {"label": "A", "text": "Axial view."},
                         {"label": "B", "text": "Coronal view."}]},
        {"id": "g2", "caption": "MRI of the knee.", "subcaptions": []}]) + "\n")
    outside = tmp_path / "cmp"
    compare_splitters(gold, [], None, rules=True, out_dir=outside)
    assert (outside / "compare.json").is_file()
    html = rep.build_report(tmp_path / "run", extra=[outside]).read_text(encoding="utf-8")
    sec = html[html.index('id="prompts"'):html.index('id="gallery"')]
    assert "split prompts on gold.jsonl (2 captions)" in sec
    assert "<td>rules</td>" in sec and "label F1" in sec
    # the same file inside the run directory is found without --include
    (tmp_path / "run" / "prompts").mkdir()
    (tmp_path / "run" / "prompts" / "compare.json").write_text((outside / "compare.json").read_text())
    html = rep.build_report(tmp_path / "run").read_text(encoding="utf-8")
    assert 'id="prompts"' in html and "eval compare" not in html
    md = rep.build_report(tmp_path / "run", fmt="md").read_text(encoding="utf-8")
    assert "Prompt comparison" in md and "| rules |" in md


def test_joined_verbatim_pieces_are_accepted_in_order():
    cap = "Axial CT (a) and coronal MIP (b) show cysts in both kidneys."
    colours = {"a": "#0072B2", "b": "#E69F00"}
    subs = [{"label": "a", "text": "Axial CT show cysts in both kidneys."},
            {"label": "b", "text": "coronal MIP show cysts in both kidneys."}]
    html, info = rep.highlight_caption(cap, subs, colours)
    assert info[0]["found"] and info[0]["pieces"] == 2 and not info[0]["overlap"]
    assert info[1]["found"] and info[1]["pieces"] == 2
    assert rep.find_pieces(cap, subs[0]["text"]) == [(0, 8), (cap.index("show"), len(cap))]
    # the first subcaption's pieces are marked; the second overlaps them (shared predicate)
    assert info[1]["overlap"] and html.count("<mark") == 2
    # pieces out of order, pieces inside a word, and text not in the caption are still not verbatim
    assert rep.find_pieces(cap, "show cysts Axial CT") is None
    assert rep.find_pieces(cap, "Axial C show cysts") is None
    assert rep.find_pieces(cap, "Axial CT show stones") is None
    _, info = rep.highlight_caption(cap, [{"label": "a", "text": "show cysts Axial CT"}], colours)
    assert not info[0]["found"]


def test_gallery_colours_panels_by_their_pair_when_no_letters_were_read(tmp_path):
    info = make_run(tmp_path / "run", judged=False, metrics=False)
    root = tmp_path / "run"
    f2 = info["figures"][1]
    figs = [json.loads(line) for line in (root / "figures.jsonl").read_text().splitlines()]
    fig2 = next(f for f in figs if f["figure_id"] == f2)
    for p in fig2["panels"]:
        p["label"], p["label_source"] = None, None
    (root / "figures.jsonl").write_text("".join(json.dumps(f) + "\n" for f in figs))
    pairs = [json.loads(line) for line in (root / "pairs.jsonl").read_text().splitlines()]
    proto = pairs[0]
    for i, (p, lab) in enumerate(zip(fig2["panels"][:2], "ab")):
        pairs.append({**proto, "pair_id": f"{f2}-order-{i}", "figure_id": f2, "panel_id": p["panel_id"],
                      "label": lab, "method": "order" if lab == "a" else "position"})
    (root / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))

    html = rep.build_report(root).read_text(encoding="utf-8")
    art = html[html.index(f'data-figure-id="{f2}"'):]
    art = art[:art.index("</article>")]
    panel_chips = re.findall(r'<span class="chip" style="background:(#[0-9A-Fa-f]{6})" title="label from [^"]*">([^<]*)</span>',
                             art)
    sub_colour = dict((lab, c) for c, lab in re.findall(
        r'<li[^>]*><span class="chip" style="background:(#[0-9A-Fa-f]{6})">([^<]*)</span>', art))
    assert [lab for _, lab in panel_chips] == ["a · order", "b · position", "·", "·"]
    assert panel_chips[0][0] == sub_colour["a"] and panel_chips[1][0] == sub_colour["b"]
    assert panel_chips[0][0] != panel_chips[1][0]
    assert "(paired by order)" in art and "(paired by position)" in art
    # c and d have neither a letter nor a pair: still said
    assert "(no panel with this label)" in art
    # figure 1 was paired by its letters: same colours as before, method shown
    art1 = html[html.index(f'data-figure-id="{info["figures"][0]}"'):]
    assert "(paired by letter)" in art1[:art1.index("</article>")]


def test_paired_panels_keeps_unpaired_and_shared():
    panels = [{"panel_id": "k0", "label": None}, {"panel_id": "k1", "label": "B"}, {"panel_id": "k2", "label": None}]
    pairs = [{"panel_id": "k0", "label": "A", "method": "order"},
             {"panel_id": "k2", "label": "_shared", "method": "single_panel"},
             {"panel_id": None, "label": None, "method": "whole"}]
    out = rep.paired_panels(panels, pairs)
    assert [p["label"] for p in out] == ["A", "B", None]
    assert out[0]["method"] == "order" and out[0]["parsed_label"] is None and "method" not in out[1]
    assert panels[0]["label"] is None  # input untouched

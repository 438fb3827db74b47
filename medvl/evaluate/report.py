"""`medvl report`: one self-contained HTML page (or a Markdown summary) of a run directory.

Everything is optional except the run directory itself: each section renders from whatever
files the stages left behind (figures.jsonl, subcaptions.jsonl, pairs.jsonl, rejects.jsonl,
judgments.jsonl, judge_summary.json, metrics.json, prompt comparison and split-metrics JSON,
run.json) and is left out, with a note, when its input is missing or unreadable.  The HTML
embeds its images as data URIs (or writes them to one folder beside the page with
``embed=False``) and loads nothing from the network: no CDN, no web fonts, no scripts.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from medvl.errors import InputError, MedvlError
from medvl.evaluate import stats
from medvl.progress import ProgressFn, no_progress
from medvl.split.verbatim import spans_fit, verbatim_spans

REPORT_VERSION = "2"
TEMPLATES = Path(__file__).parent / "templates"

# Panel colours: colour-blind-friendly (Okabe-Ito + extras), readable as box outlines and
# as light highlight backgrounds (the CSS uses them at ~30 % opacity).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C6D31",
           "#7B4EA3", "#2CA02C", "#F0027F", "#1B9E77", "#A6761D"]
SHARED_COLOUR = "#888888"


# ---------------------------------------------------------------- loading

@dataclass
class RunData:
    path: Path
    manifest: dict = field(default_factory=dict)
    figures: list[dict] = field(default_factory=list)
    splits: dict[str, dict] = field(default_factory=dict)  # SplitRow by id
    pairs: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    judgments: list[dict] = field(default_factory=list)
    judge_summary: dict | None = None
    metrics: list[tuple[str, dict]] = field(default_factory=list)  # (file, metrics.json)
    prompt_compare: list[tuple[str, Any]] = field(default_factory=list)  # (file, data)
    eval_compare: list[tuple[str, dict]] = field(default_factory=list)  # `medvl eval compare` compare.json
    split_metrics: list[tuple[str, Any]] = field(default_factory=list)
    present: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _read_jsonl_tolerant(path: Path, problems: list[str], rel: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{rel}:{i}: not valid JSON ({exc.msg}); line skipped")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{rel}:{i}: not a JSON object; line skipped")
                continue
            rows.append(obj)
    return rows


def _read_json_tolerant(path: Path, problems: list[str], rel: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{rel}: could not be read ({exc}); section left out")
        return None


def _is_eval_compare(d: Any) -> bool:
    return isinstance(d, dict) and isinstance(d.get("rows"), list) and isinstance(d.get("models"), dict)


def load_run(run_dir: str | Path, extra: list[str | Path] = ()) -> RunData:
    """Read every optional output of a run; unreadable parts become `problems`, never a crash.

    `extra`: evaluation outputs kept outside the run directory (metrics.json or compare.json
    files, or folders holding them, e.g. the OUT of `medvl eval compare`)."""
    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(str(run_dir), "not_a_directory", "run directory does not exist")
    root = root.resolve()
    rd = RunData(path=root)
    pr = rd.problems

    def rel(p: Path) -> str:
        try:
            return p.resolve().relative_to(root).as_posix()
        except ValueError:
            return str(p)

    def jl(name: str) -> list[dict]:
        p = root / name
        rd.present[name] = p.is_file()
        return _read_jsonl_tolerant(p, pr, name) if p.is_file() else []

    if (root / "run.json").is_file():
        rd.manifest = _read_json_tolerant(root / "run.json", pr, "run.json") or {}
    rd.present["run.json"] = bool(rd.manifest)
    rd.figures = jl("figures.jsonl")
    rd.splits = {}
    for row in jl("subcaptions.jsonl"):
        if "id" in row:
            rd.splits[str(row["id"])] = row
    rd.pairs = jl("pairs.jsonl")
    rd.rejects = jl("rejects.jsonl")
    rd.judgments = jl("judgments.jsonl")
    p = root / "judge_summary.json"
    rd.present["judge_summary.json"] = p.is_file()
    if p.is_file():
        rd.judge_summary = _read_json_tolerant(p, pr, "judge_summary.json")

    # evaluation: metrics.json of `medvl eval` (at the top, or one per folder such as eval/raw and
    # eval/aligned) and compare.json of `medvl eval compare`, here or in the `extra` places
    metric_files: list[Path] = []
    compare_files: list[Path] = []
    for base in [root, *[Path(e) for e in extra]]:
        if base.is_file():
            (compare_files if base.name.startswith("compare") else metric_files).append(base)
            continue
        if not base.is_dir():
            pr.append(f"{base}: evaluation output not found; left out")
            continue
        for pat in ("metrics.json", "*/metrics.json", "*/*/metrics.json"):
            metric_files += sorted(base.glob(pat))
        for pat in ("compare.json", "*/compare.json", "*/*/compare.json", "*compare*.json", "prompts/*.json"):
            compare_files += sorted(base.glob(pat))
    seen: set[Path] = set()
    for mp in metric_files:
        if mp.resolve() in seen or len(rd.metrics) >= 12:
            continue
        seen.add(mp.resolve())
        m = _read_json_tolerant(mp, pr, rel(mp))
        if isinstance(m, dict):
            rd.metrics.append((rel(mp), m))
        elif m is not None:
            pr.append(f"{rel(mp)}: not a JSON object; left out")
    rd.present["metrics.json"] = bool(metric_files)
    # compare.json of `medvl eval compare` (rows + models) or of `medvl prompts compare` (systems)
    seen_cmp: set[Path] = set()
    for cp in compare_files:
        if cp.resolve() in seen_cmp:
            continue
        seen_cmp.add(cp.resolve())
        d = _read_json_tolerant(cp, pr, rel(cp))
        if _is_eval_compare(d):
            rd.eval_compare.append((rel(cp), d))
        elif isinstance(d, dict) and isinstance(d.get("systems"), list):
            rd.prompt_compare.append((rel(cp), d))
    for pat in ("split_metrics*.json", "*/split_metrics*.json", "split_eval*.json"):
        for f in sorted(root.glob(pat)):
            data = _read_json_tolerant(f, pr, rel(f))
            if data is not None:
                rd.split_metrics.append((rel(f), data))
    return rd


# ---------------------------------------------------------------- helpers

def _label_key(label: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "", (label or "").lower())


def panel_colours(panels: list[dict]) -> dict[str, str]:
    """label key -> colour, in panel order (panels without a label get a colour by index)."""
    out: dict[str, str] = {}
    for i, p in enumerate(panels):
        k = _label_key(p.get("label")) or f"#{i}"
        out.setdefault(k, PALETTE[i % len(PALETTE)])
    return out


def light(colour: str, amount: float = 0.22) -> str:
    """`colour` mixed with white (amount = share of the colour)."""
    c = colour.lstrip("#")
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    mix = lambda v: round(255 - (255 - v) * amount)  # noqa: E731
    return f"#{mix(r):02x}{mix(g):02x}{mix(b):02x}"


def find_pieces(caption: str, text: str, start_hint: int = 0) -> list[tuple[int, int]] | None:
    """Caption spans that make up `text` (medvl.split.verbatim, the one definition of verbatim), for
    rows without stored offsets (split rows written before subcaptions kept their `spans`)."""
    return verbatim_spans(text, caption, start_hint)


def subcaption_pieces(caption: str, sc: dict, start_hint: int = 0) -> list[tuple[int, int]] | None:
    """The caption spans of one subcaption: its stored offsets when they make its text from this caption
    (checked, not searched), else a search."""
    stored = sc.get("spans")
    if stored and spans_fit(sc.get("text") or "", caption, stored):
        return [(int(x), int(y)) for x, y in stored]
    return find_pieces(caption, sc.get("text") or "", start_hint)


def highlight_caption(caption: str, subcaptions: list[dict], colours: dict[str, str],
                      methods: dict[str, str] | None = None) -> tuple[str, list[dict]]:
    """Caption HTML with each subcaption wrapped in a <mark> of its panel's colour (one mark per
    verbatim piece when the text joins several pieces).

    Returns (html, info) where info lists each subcaption with its colour, whether it was found
    verbatim in the caption (whole or as pieces in order) and how align paired it (`methods`:
    label key -> method, from pairs.jsonl).
    """
    spans: list[tuple[int, int, int]] = []
    info = []
    hint = 0
    extra = 0
    for n, sc in enumerate(subcaptions):
        label = sc.get("label") or ""
        key = _label_key(label)
        if label == "_shared":
            colour = SHARED_COLOUR
        elif key in colours:
            colour = colours[key]
        else:
            colour = PALETTE[(len(colours) + extra) % len(PALETTE)]
            extra += 1
        pieces = subcaption_pieces(caption, sc, hint)
        ok = pieces is not None and not any(s < b and a < e for a, b in pieces for s, e, _ in spans)
        if ok:
            spans.extend((a, b, n) for a, b in pieces)
            hint = pieces[-1][1]
        info.append({"label": label, "text": sc.get("text") or "", "colour": colour,
                     "found": pieces is not None, "overlap": pieces is not None and not ok,
                     "pieces": len(pieces or []), "has_panel": key in colours,
                     "method": (methods or {}).get(key)})
    spans.sort()
    out = []
    pos = 0
    labelled: set[int] = set()
    for s, e, n in spans:
        out.append(html.escape(caption[pos:s]))
        c = info[n]["colour"]
        lab = html.escape(info[n]["label"])
        chip = f'<b class="ml">{lab}</b>' if n not in labelled else ""
        labelled.add(n)
        out.append(f'<mark style="--c:{c};--cl:{light(c)}" title="{lab}">{chip}'
                   f"{html.escape(caption[s:e])}</mark>")
        pos = e
    out.append(html.escape(caption[pos:]))
    return "".join(out), info


def paired_panels(panels: list[dict], pairs: list[dict]) -> list[dict]:
    """Panels as the gallery shows them: each panel that align paired (pairs.jsonl: panel_id -> label,
    method) takes its paired subcaption's label, so it gets that subcaption's colour even when no
    letter was read on it (pairing by reading order or position); `method` says how it was paired."""
    by_panel = {p.get("panel_id"): p for p in pairs if p.get("panel_id")}
    out = []
    for p in panels:
        q = dict(p)
        pr = by_panel.get(p.get("panel_id"))
        lab = (pr or {}).get("label")
        if pr and lab and lab != "_shared":
            q["parsed_label"] = p.get("label")
            q["label"] = lab
            q["method"] = pr.get("method")
        out.append(q)
    return out


def _score_class(v: float | None) -> str:
    if v is None:
        return "s-na"
    if v < 2.5:
        return "s-bad"
    if v < 3.5:
        return "s-mid"
    return "s-good"


def judgment_mean(j: dict) -> float | None:
    sc = [v for v in (j.get("scores") or {}).values() if isinstance(v, (int, float))]
    return sum(sc) / len(sc) if sc else None


# ---------------------------------------------------------------- images

class ImageSink:
    """Turns PIL images into <img src>: data URIs, or files in one folder beside the page."""

    def __init__(self, embed: bool, folder: Path | None, href_prefix: str = ""):
        self.embed = embed
        self.folder = folder
        self.href_prefix = href_prefix
        self.n = 0

    def add(self, img, name: str, fmt: str = "JPEG") -> str:
        buf = io.BytesIO()
        if fmt == "JPEG":
            if img.mode not in ("RGB", "L"):
                from PIL import Image

                bg = Image.new("RGB", img.size, "white")
                rgba = img.convert("RGBA")
                bg.paste(rgba, mask=rgba.split()[-1])
                img = bg
            img.save(buf, "JPEG", quality=85, optimize=True)
            mime, ext = "image/jpeg", "jpg"
        else:
            img.save(buf, "PNG", optimize=True)
            mime, ext = "image/png", "png"
        return self.add_bytes(buf.getvalue(), name, mime, ext)

    def add_bytes(self, data: bytes, name: str, mime: str, ext: str) -> str:
        self.n += 1
        if self.embed or self.folder is None:
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or f"img{self.n}"
        fname = f"{self.n:04d}-{safe}.{ext}"
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / fname).write_bytes(data)
        return f"{self.href_prefix}{fname}"


def _font(size: int):
    from PIL import ImageFont

    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def render_figure(image_path: Path, fig: dict, colours: dict[str, str], max_width: int = 900,
                  min_width: int = 480):
    """The figure image with its panel boxes (lp.draw_box) and letters (drawn with PIL);
    wider images are shrunk to max_width, small ones enlarged to min_width."""
    from PIL import Image, ImageDraw

    img = Image.open(image_path)
    img.load()
    img = img.convert("RGB")
    panels = fig.get("panels") or []
    w0 = fig.get("width") or img.width
    h0 = fig.get("height") or img.height
    sx, sy = img.width / max(1, w0), img.height / max(1, h0)
    scale = min(1.0, max_width / img.width) if img.width > min_width else min_width / img.width
    if scale != 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.LANCZOS)
    sx, sy = sx * scale, sy * scale
    boxes = []
    for i, p in enumerate(panels):
        b = p.get("bbox")
        if not b or len(b) != 4:
            continue
        x0, y0, x1, y1 = b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy
        key = _label_key(p.get("label")) or f"#{i}"
        boxes.append(((x0, y0, x1, y1), colours.get(key, PALETTE[i % len(PALETTE)]), p.get("label")))
    if not boxes:
        return img
    width = max(3, round(max(img.size) / 200))
    import layoutparser as lp

    layout = lp.Layout([lp.TextBlock(lp.Rectangle(*b), id=i) for i, (b, _, _) in enumerate(boxes)])
    # show_element_type=True crashes on Pillow >= 10 (font.getsize): letters are drawn below.
    img = lp.draw_box(img, layout, box_width=width, box_color=[c for _, c, _ in boxes], box_alpha=0.06)
    img = img.convert("RGB")
    draw = ImageDraw.Draw(img)
    fsize = max(13, min(34, round(max(img.size) / 26)))
    font = _font(fsize)
    for (x0, y0, _x1, _y1), colour, label in boxes:
        if not label:
            continue
        tb = draw.textbbox((0, 0), label, font=font)
        tw, th = tb[2] - tb[0], tb[3] - tb[1]
        pad = max(2, fsize // 5)
        bx0, by0 = max(0, x0), max(0, y0)
        draw.rectangle([bx0, by0, bx0 + tw + 2 * pad, by0 + th + 2 * pad], fill=colour)
        draw.text((bx0 + pad - tb[0], by0 + pad - tb[1]), label, fill="white", font=font)
    return img


# ---------------------------------------------------------------- plots

def _plot_png(draw: Callable, size: tuple[float, float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=110)
    try:
        draw(fig, ax)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def plot_rejects(by_reason: list[tuple[str, int]]) -> bytes:
    items = by_reason[:15][::-1]

    def draw(fig, ax):
        ax.barh([r for r, _ in items], [n for _, n in items], color="#D55E00")
        ax.set_xlabel("rejected items")
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Rejects by reason", loc="left", fontsize=11)
        for i, (_, n) in enumerate(items):
            ax.text(n, i, f" {n}", va="center", fontsize=8)

    return _plot_png(draw, (6.4, 0.35 * len(items) + 1.2))


def plot_score_distribution(group: dict) -> bytes:
    crits = list((group.get("criteria") or {}).keys())
    import numpy as np

    def draw(fig, ax):
        width = 0.8 / max(1, len(crits))
        xs = np.arange(1, 6)
        for i, c in enumerate(crits):
            h = group["criteria"][c].get("histogram") or {}
            ax.bar(xs + (i - (len(crits) - 1) / 2) * width, [h.get(str(s), 0) for s in range(1, 6)],
                   width=width, label=c, color=PALETTE[i % len(PALETTE)])
        ax.set_xticks(xs)
        ax.set_xlabel("score (1 = bad, 5 = good)")
        ax.set_ylabel("judgments")
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{group.get('what')} · {group.get('prompt_id')}", loc="left", fontsize=10)
        if crits:
            ax.legend(fontsize=8, frameon=False, loc="upper left", ncol=min(4, len(crits)))
            ax.set_ylim(0, ax.get_ylim()[1] * 1.25)

    return _plot_png(draw, (5.6, 3.0))


def plot_recall_curves(curves: dict[str, list[tuple[float, float]]], title: str) -> bytes:
    def draw(fig, ax):
        names = sorted(curves, key=lambda n: (n == "chance", n))
        for i, name in enumerate(names):
            pts = sorted(curves[name])
            if name == "chance":
                style = {"color": "#999999", "linestyle": ":", "marker": None}
            else:
                style = {"color": PALETTE[i % len(PALETTE)], "marker": "o",
                         "linestyle": "--" if "raw" in name.lower() else "-"}
            ax.plot([k for k, _ in pts], [v for _, v in pts], label=name, **style)
        ax.set_xscale("log")
        ks = sorted({k for pts in curves.values() for k, _ in pts})
        ax.set_xticks(ks)
        ax.set_xticklabels([f"{k:g}" for k in ks])
        ax.set_xlabel("k")
        ax.set_ylabel("recall@k")
        ax.set_ylim(0, 1.02 if all(v <= 1 for p in curves.values() for _, v in p) else None)
        ax.grid(alpha=0.3)
        ax.set_title(title, loc="left", fontsize=10)
        ax.legend(fontsize=8, frameon=False)

    return _plot_png(draw, (5.6, 3.2))


# ---------------------------------------------------------------- metrics (shape-tolerant)

_RECALL = re.compile(r"^(?:r|recall)@?(\d+)$", re.I)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def find_recall_curves(metrics: Any, path: tuple[str, ...] = ()) -> dict[str, dict[str, list]]:
    """Find every dict of recall@k values in `metrics`, whatever its nesting.

    Returns {title: {series: [(k, value)]}}, where the series is the innermost key above the
    recall dict (e.g. "raw" / "aligned") and the title is the path above that.
    """
    out: dict[str, dict[str, list]] = defaultdict(dict)

    def walk(node: Any, p: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            pts = []
            for k, v in node.items():
                m = _RECALL.match(str(k).replace("recall_at_", "r"))
                if m and _num(v):
                    pts.append((float(m.group(1)), float(v)))
            if len(pts) >= 2:
                title = " / ".join(p[:-1]) or "retrieval"
                series = p[-1] if p else "recall"
                out[title][series] = pts
            for k, v in node.items():
                if isinstance(v, (dict, list)):
                    walk(v, p + (str(k),))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                name = v.get("name") or v.get("model") or str(i) if isinstance(v, dict) else str(i)
                walk(v, p + (str(name),))

    walk(metrics, path)
    return dict(out)


_PROMPT_COLS = [("label_precision", "label P"), ("label_recall", "label R"), ("label_f1", "label F1"),
                ("exact_label_set", "exact set"), ("text_f1", "text F1"), ("schema_failure_rate", "schema fail"),
                ("reask_rate", "re-ask"), ("fallback_rate", "fallback"), ("latency_mean_s", "latency s"),
                ("tokens_per_caption", "tokens/caption"), ("n_disagreements", "disagreements")]


def prompt_compare_view(file: str, d: Any) -> dict:
    """`medvl prompts compare` output as one table per file (systems x metrics), best F1 first."""
    systems = [s for s in d.get("systems") or [] if isinstance(s, dict)] if isinstance(d, dict) else []
    if not systems:
        return {"file": file, "tables": tables_from(d)}
    cols = [(k, name) for k, name in _PROMPT_COLS if any(k in s for s in systems)]
    systems = sorted(systems, key=lambda s: -(s.get("label_f1") or 0))
    rows = [[s.get("system") or s.get("prompt")] + [s.get(k) for k, _ in cols] for s in systems]
    title = f"split prompts on {Path(str(d.get('gold') or '')).name or 'gold'}" + (
        f" ({d['n_captions']} captions)" if d.get("n_captions") else "")
    llm = d.get("llm") or {}
    note = f"LLM {llm.get('model')} ({llm.get('mode')})" if llm.get("model") else ""
    return {"file": file, "tables": [{"title": title, "columns": ["system"] + [n for _, n in cols], "rows": rows,
                                      "note": note}]}


def _metric_label(rel: str) -> str:
    parent = str(Path(rel).parent)
    return "metrics" if parent in ("", ".") else parent


def combined_recall_curves(files: list[tuple[str, dict]]) -> dict[str, dict[str, list]]:
    """Recall@k curves of every metrics file; with several files (e.g. eval/raw and eval/aligned),
    one plot per direction with one line per file, so raw and aligned sit side by side."""
    per_file = [(_metric_label(rel), find_recall_curves(m)) for rel, m in files]
    if len(per_file) == 1:
        return per_file[0][1]
    out: dict[str, dict[str, list]] = defaultdict(dict)
    chance: list | None = None
    for label, curves in per_file:
        for title, series in curves.items():
            for name, pts in series.items():
                if name == "chance":
                    chance = chance or pts
                    continue
                key = name if title in ("retrieval", "") else f"{title} / {name}"
                out[key][label] = pts
    if chance:
        for series in out.values():
            series["chance"] = chance
    return dict(out)


_DIRECTIONS = {"image_to_text": "image → text", "text_to_image": "text → image", "i2t": "image → text",
               "t2i": "text → image"}


def retrieval_rows(files: list[tuple[str, dict]]) -> tuple[list[str], list[list]]:
    """One row per (metrics file, recall dict): the raw-vs-aligned comparison table."""
    ks: set[int] = set()
    found = []
    for rel, m in files:
        def walk(node: Any, path: tuple[str, ...]) -> None:
            if isinstance(node, dict):
                rec = {}
                for k, v in node.items():
                    mm = _RECALL.match(str(k).replace("recall_at_", "r"))
                    if mm and _num(v):
                        rec[int(mm.group(1))] = float(v)
                if len(rec) >= 2:
                    found.append((_metric_label(rel), path, rec, node.get("mean_rank"), node.get("median_rank")))
                    ks.update(rec)
                for k, v in node.items():
                    if isinstance(v, dict):
                        walk(v, path + (str(k),))

        walk(m, ())
    kl = sorted(ks)
    cols = ["source", "metric"] + [f"R@{k} %" for k in kl] + ["mean rank", "median rank"]
    rows = []
    for label, path, rec, mean_r, med_r in found:
        name = " / ".join(_DIRECTIONS.get(p, p) for p in path if p not in ("retrieval",)) or "recall"
        rows.append([label, name] + [f"{100 * rec[k]:.1f}" if k in rec else None for k in kl]
                    + [mean_r if _num(mean_r) else None, med_r if _num(med_r) else None])
    rows.sort(key=lambda r: (r[1] == "chance", r[1], r[0]))
    # chance is the same for every file: keep one row
    seen_chance = False
    out = []
    for r in rows:
        if r[1] == "chance":
            if seen_chance:
                continue
            seen_chance = True
            r = ["(random ranking)"] + r[1:]
        out.append(r)
    return cols, out


_SKIP_TABLE_KEYS = {"ranks", "train_settings"}


def _metrics_for_tables(m: Any) -> Any:
    """Drop bulky per-item arrays from metrics before tabulating them."""
    if isinstance(m, dict):
        return {k: _metrics_for_tables(v) for k, v in m.items()
                if k not in _SKIP_TABLE_KEYS and not (isinstance(v, list) and len(v) > 50)}
    return m


def tables_from(obj: Any, title: str = "", depth: int = 0) -> list[dict]:
    """Flatten nested JSON into renderable tables: a dict whose values are dicts of scalars
    becomes a table (rows = outer keys, columns = inner keys); lists of flat dicts too;
    leftover scalars become a key/value table."""
    tables: list[dict] = []
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        flat = [r for r in obj if all(not isinstance(v, (dict, list)) for v in r.values())]
        if len(flat) == len(obj):
            cols: list[str] = []
            for r in obj:
                cols += [c for c in r if c not in cols]
            tables.append({"title": title, "columns": cols, "rows": [[r.get(c) for c in cols] for r in obj]})
            return tables
        for i, r in enumerate(obj):
            tables += tables_from(r, f"{title} [{i}]".strip(), depth + 1)
        return tables
    if not isinstance(obj, dict):
        return tables
    scalars = {k: v for k, v in obj.items() if not isinstance(v, (dict, list))}
    sub = {k: v for k, v in obj.items() if isinstance(v, dict)}
    flat_sub = {k: v for k, v in sub.items() if v and all(not isinstance(x, (dict, list)) for x in v.values())}
    if scalars:
        tables.append({"title": title, "columns": ["key", "value"], "rows": [[k, v] for k, v in scalars.items()]})
    if flat_sub:
        cols = []
        for v in flat_sub.values():
            cols += [c for c in v if c not in cols]
        tables.append({"title": title, "columns": [""] + cols,
                       "rows": [[k] + [v.get(c) for c in cols] for k, v in flat_sub.items()]})
    for k, v in obj.items():
        if isinstance(v, dict) and k not in flat_sub:
            tables += tables_from(v, f"{title} / {k}".strip(" /"), depth + 1)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            tables += tables_from(v, f"{title} / {k}".strip(" /"), depth + 1)
    return tables


def fmt_cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if abs(v) >= 1000 or v == int(v) and abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 1 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    s = str(v)
    return s if len(s) <= 160 else s[:157] + "…"


# ---------------------------------------------------------------- context

def _counts(rd: RunData) -> list[dict]:
    rows = []
    figs = rd.figures
    n_panels = sum(len(f.get("panels") or []) for f in figs)
    rej_by_stage = Counter(r.get("stage") or "?" for r in rd.rejects)
    if rd.present.get("figures.jsonl"):
        with_panels = sum(1 for f in figs if len(f.get("panels") or []) > 1)
        papers = len({f.get("paper_id") for f in figs})
        rows.append({"stage": "parse", "output": "figures.jsonl",
                     "count": f"{len(figs):,} figures from {papers:,} papers",
                     "detail": f"{n_panels:,} panels; {with_panels:,} figures with 2+ panels",
                     "rejects": rej_by_stage.get("parse", 0)})
    if rd.present.get("subcaptions.jsonl"):
        n_sc = sum(len(s.get("subcaptions") or []) for s in rd.splits.values())
        by = Counter(s.get("splitter") for s in rd.splits.values())
        fb = sum(1 for s in rd.splits.values() if s.get("fallback_reason"))
        rows.append({"stage": "split", "output": "subcaptions.jsonl",
                     "count": f"{len(rd.splits):,} captions → {n_sc:,} subcaptions",
                     "detail": ", ".join(f"{k}: {v}" for k, v in sorted(by.items(), key=lambda kv: str(kv[0])))
                     + (f"; {fb} fell back" if fb else ""),
                     "rejects": rej_by_stage.get("split", 0)})
    if rd.present.get("pairs.jsonl"):
        from medvl.align_llm import aligner_counts

        by = Counter(p.get("method") for p in rd.pairs)
        fa = aligner_counts(rd.pairs)
        figs_line = (f"; figures paired by the rules {fa['rules']:,}, by the LLM {fa['llm']:,} "
                     f"(rescued {fa['llm_rescued']:,}; rule result kept after an LLM fallback {fa['llm_fallback']:,})")
        rows.append({"stage": "align", "output": "pairs.jsonl", "count": f"{len(rd.pairs):,} image–text pairs",
                     "detail": ", ".join(f"{k}: {v}" for k, v in by.most_common()) + figs_line,
                     "rejects": rej_by_stage.get("align", 0)})
    if rd.present.get("judgments.jsonl"):
        by = Counter(j.get("what") for j in rd.judgments)
        rows.append({"stage": "judge", "output": "judgments.jsonl", "count": f"{len(rd.judgments):,} judgments",
                     "detail": ", ".join(f"{k}: {v}" for k, v in by.most_common()),
                     "rejects": rej_by_stage.get("judge", 0)})
    known = {"parse", "split", "align", "judge"}
    for st, n in sorted(rej_by_stage.items()):
        if st not in known:
            rows.append({"stage": st, "output": "", "count": "", "detail": "", "rejects": n})
    for st, info in sorted((rd.manifest.get("stages") or {}).items()):
        if st not in {r["stage"] for r in rows}:
            rows.append({"stage": st, "output": "(run.json)", "count": "ran", "detail": info.get("updated_at", ""),
                         "rejects": rej_by_stage.get(st, 0)})
    return rows


def _worst_key(js: list[dict]) -> float:
    means = [m for m in (judgment_mean(j) for j in js) if m is not None]
    return min(means) if means else math.inf


def _judgments_by_figure(rd: RunData) -> dict[str, list[dict]]:
    pair_fig = {p.get("pair_id"): p.get("figure_id") for p in rd.pairs}
    out: dict[str, list[dict]] = defaultdict(list)
    for j in rd.judgments:
        fid = (j.get("extra") or {}).get("figure_id")
        if not fid:
            if j.get("what") == "splits":
                fid = j.get("item_id")
            else:
                fid = pair_fig.get(j.get("item_id"))
        if fid:
            out[str(fid)].append(j)
    return out


def _judgment_view(j: dict) -> dict:
    m = judgment_mean(j)
    return {"what": j.get("what"), "item_id": j.get("item_id"), "mean": m, "cls": _score_class(m),
            "scores": [{"name": k, "value": v, "cls": _score_class(v)} for k, v in (j.get("scores") or {}).items()],
            "rationale": j.get("rationale") or "", "flags": j.get("flags") or [], "mode": j.get("mode"),
            "prompt_id": j.get("prompt_id"), "judge_model": j.get("judge_model"),
            "label": (j.get("extra") or {}).get("label"), "figure_id": (j.get("extra") or {}).get("figure_id")}


def _rejects_section(rd: RunData, images: ImageSink, with_images: bool) -> dict:
    """Reject counts by 'stage: reason', three examples each, and their bar plot."""
    def key(r: dict) -> str:
        return f"{r.get('stage') or '?'}: {r.get('reason') or '?'}"

    by_reason = Counter(key(r) for r in rd.rejects).most_common()
    examples: dict[str, list[dict]] = defaultdict(list)
    for r in rd.rejects:
        if len(examples[key(r)]) < 3:
            examples[key(r)].append(r)
    plots: dict[str, Any] = {}
    if with_images and by_reason:
        plots["rejects"] = images.add_bytes(plot_rejects(by_reason), "rejects", "image/png", "png")
    return {"rejects_by_reason": by_reason, "rejects_examples": dict(examples), "n_rejects": len(rd.rejects),
            "plots": plots}


def _judge_group_view(g: dict, images: ImageSink, with_images: bool) -> dict:
    view = dict(g)
    view["criteria_rows"] = [
        {"name": c, "mean": stats.fmt_ci(v), "cls": _score_class(v.get("mean")), "n": v.get("n"),
         "low": stats.fmt_ci(v.get("low_share"), percent=True)}
        for c, v in (g.get("criteria") or {}).items()]
    view["overall_fmt"] = stats.fmt_ci(g.get("overall"))
    view["flagged_fmt"] = stats.fmt_ci(g.get("flagged"), percent=True)
    view["failed_fmt"] = stats.fmt_ci(g.get("failed"), percent=True)
    gold = g.get("gold")
    if gold and gold.get("agreement"):
        a = gold["agreement"]
        view["gold_fmt"] = {"n": a.get("n"), "precision": stats.fmt_ci(a.get("precision"), percent=True),
                            "recall": stats.fmt_ci(a.get("recall"), percent=True),
                            "accuracy": stats.fmt_ci(a.get("accuracy"), percent=True),
                            "kappa": fmt_cell(a.get("kappa")),
                            "disagree": gold.get("n_disagree"), "flagged": a.get("tp", 0) + a.get("fp", 0)}
    if with_images and g.get("criteria"):
        view["plot"] = images.add_bytes(plot_score_distribution(g), "scores", "image/png", "png")
    return view


def _judge_section(rd: RunData, images: ImageSink, with_images: bool) -> dict:
    """The judge summary (judge_summary.json, else summarised from judgments.jsonl), one view per group."""
    summary = rd.judge_summary if isinstance(rd.judge_summary, dict) else None
    if summary is None and rd.judgments:
        from medvl.evaluate.judge import summarize

        summary = summarize(rd.judgments, [], gold=None)
    groups = [_judge_group_view(g, images, with_images) for g in (summary or {}).get("groups", [])] \
        if summary else []
    return {"judge_groups": groups, "judge_summary": summary}


def _worst_section(rd: RunData) -> list[dict]:
    """The 15 lowest-scored judgments, each with the text it judged (subcaptions or pair text)."""
    worst = sorted((j for j in rd.judgments if judgment_mean(j) is not None), key=judgment_mean)[:15]
    views = [_judgment_view(j) for j in worst]
    pair_text = {p.get("pair_id"): p for p in rd.pairs}
    for w in views:
        if w["what"] == "splits" and w["item_id"] in rd.splits:
            w["subject"] = " | ".join(f"{s.get('label')}: {s.get('text')}"
                                      for s in rd.splits[w["item_id"]].get("subcaptions") or [])
            if not w["subject"]:
                cap = next((f.get("caption") for f in rd.figures if str(f.get("figure_id")) == w["item_id"]), "")
                w["subject"] = f"(no subcaptions) caption: {cap}" if cap else "(no subcaptions)"
        elif w["item_id"] in pair_text:
            w["subject"] = pair_text[w["item_id"]].get("text")
        else:
            w["subject"] = ""
        w["figure_id"] = w["figure_id"] or (w["item_id"] if w["what"] == "splits"
                                            else (pair_text.get(w["item_id"]) or {}).get("figure_id"))
    return views


def _eval_compare_view(f: Any, d: dict) -> dict:
    """A `medvl eval compare` file as table rows, the aligned-minus-raw delta coloured by direction."""
    names = list(d.get("models") or {})
    rows = []
    for r in d.get("rows") or []:
        vals = r.get("values") or {}
        pct = r.get("percent", True)
        show = (lambda v: f"{100 * v:.1f}" if pct and _num(v) else fmt_cell(v))  # noqa: E731
        delta = r.get("delta_aligned_minus_raw")
        better = None
        if _num(delta) and delta != 0:
            better = (delta > 0) == bool(r.get("higher_is_better", True))
        rows.append({"metric": r.get("metric"), "values": [show(vals.get(n)) for n in names],
                     "delta": (f"{100 * delta:+.1f}" if pct else f"{delta:+.1f}") if _num(delta) else "–",
                     "cls": "s-good" if better else ("s-bad" if better is False else "s-na")})
    return {"file": f, "models": names, "rows": rows, "split": d.get("split"),
            "n": (d.get("data") or {}).get("n_evaluated")}


def _metrics_section(rd: RunData, images: ImageSink, with_images: bool, problems: list[str]) -> dict:
    """Metrics files as tables, recall curves, raw-vs-aligned comparisons, prompt and split comparisons."""
    blocks, plots = [], []
    for rel, m in rd.metrics:
        m = _metrics_for_tables(m)
        headline = {k: m[k] for k in ("retrieval", "zeroshot", "zero_shot") if isinstance(m.get(k), dict)}
        main = tables_from(headline) if headline else []
        rest = tables_from({k: v for k, v in m.items() if k not in headline}, "run details")
        blocks.append({"file": rel, "tables": main + rest, "main": main or rest[:4]})
    if with_images and rd.metrics:
        for title, curves in combined_recall_curves(rd.metrics).items():
            try:
                plots.append({"title": title, "src": images.add_bytes(
                    plot_recall_curves(curves, title), "recall", "image/png", "png")})
            except Exception as exc:  # a plot must never sink the report
                problems.append(f"metrics: recall plot '{title}' failed ({exc})")
    retrieval_table = None
    if rd.metrics:
        cols, rows = retrieval_rows(rd.metrics)
        if rows:
            retrieval_table = {"columns": cols, "rows": rows}
    return {"metric_blocks": blocks, "metric_plots": plots, "retrieval_table": retrieval_table,
            "eval_compare": [_eval_compare_view(f, d) for f, d in rd.eval_compare],
            "compare_tables": [prompt_compare_view(f, d) for f, d in rd.prompt_compare],
            "split_tables": [{"file": f, "tables": tables_from(d)} for f, d in rd.split_metrics]}


def _figure_image(rd: RunData, images: ImageSink, f: dict, panels: list[dict], colours: dict,
                  problems: list[str], with_images: bool) -> tuple[Any, str | None]:
    """(image src, note): the figure drawn with its panel boxes, or why there is none."""
    fid = str(f.get("figure_id"))
    if not f.get("image"):
        return None, "no rendered image for this figure"
    if not with_images:
        return None, None
    try:
        p = (rd.path / f["image"]).resolve()
        if rd.path not in p.parents:
            raise ValueError("image path escapes the run directory")
        return images.add(render_figure(p, {**f, "panels": panels}, colours), fid), None
    except FileNotFoundError:
        note = f"image not found: {f['image']}"
    except Exception as exc:
        note = f"image could not be drawn: {f['image']} ({type(exc).__name__}: {exc})"
    problems.append(f"figures.jsonl: {fid}: {note}")
    return None, note


def _gallery_card(rd: RunData, images: ImageSink, f: dict, fig_pairs: list[dict], judgments: list[dict],
                  problems: list[str], with_images: bool) -> dict:
    """One figure of the gallery: the drawn image, the caption with its subcaptions marked, panels, judgments."""
    fid = str(f.get("figure_id"))
    panels = paired_panels(f.get("panels") or [], fig_pairs)
    colours = panel_colours(panels)
    methods: dict[str, str] = {}
    for pr in fig_pairs:
        if pr.get("label") and pr.get("method"):
            methods.setdefault(_label_key(pr["label"]), pr["method"])
    split = rd.splits.get(fid)
    subs = (split or {}).get("subcaptions") or []
    cap_html, sub_info = highlight_caption(f.get("caption") or "", subs, colours, methods)
    src, note = _figure_image(rd, images, f, panels, colours, problems, with_images)
    js = sorted(judgments, key=lambda j: (judgment_mean(j) or 99))
    wk = _worst_key(js)
    return {
        "figure_id": fid, "paper_id": f.get("paper_id"), "label": f.get("label") or f.get("number") or "",
        "page": f.get("page"), "caption_source": f.get("caption_source"), "kind": f.get("kind"),
        "license": f.get("license"), "src": src, "image_note": note, "caption_html": cap_html,
        "subcaptions": sub_info, "splitter": (split or {}).get("splitter"),
        "split_prompt": (split or {}).get("prompt_id"), "fallback": (split or {}).get("fallback_reason"),
        "panels": [{"label": p.get("label") or "·", "colour": colours.get(_label_key(p.get("label")) or f"#{i}",
                                                                           PALETTE[i % len(PALETTE)]),
                    "source": p.get("label_source"), "method": p.get("method"),
                    "parsed": p.get("parsed_label")} for i, p in enumerate(panels)],
        "judgments": [_judgment_view(j) for j in js], "worst": None if wk == math.inf else wk,
        "worst_cls": _score_class(None if wk == math.inf else wk),
    }


def _gallery_section(rd: RunData, images: ImageSink, max_figures: int, progress: ProgressFn,
                     problems: list[str], with_images: bool) -> list[dict]:
    """Figures worst-judged first (then by paper and index), at most `max_figures` (negative: all)."""
    by_fig = _judgments_by_figure(rd)
    pairs_by_fig: dict[str, list[dict]] = defaultdict(list)
    for pr in rd.pairs:
        pairs_by_fig[str(pr.get("figure_id"))].append(pr)
    figs = sorted(rd.figures, key=lambda f: (_worst_key(by_fig.get(str(f.get("figure_id")), [])),
                                             str(f.get("paper_id")), f.get("index") or 0))
    shown = figs[:max_figures] if max_figures >= 0 else figs
    gallery = []
    progress(0, total=len(shown), note="figures")
    for f in shown:
        fid = str(f.get("figure_id"))
        gallery.append(_gallery_card(rd, images, f, pairs_by_fig.get(fid, []), by_fig.get(fid, []), problems,
                                     with_images))
        progress(1, note=fid)
    return gallery


def _prompts_used(rows: Iterable[dict], id_key: str, sha_key: str, model_key: str,
                  only_with_id: bool = False) -> list[dict]:
    used = sorted({(r.get(id_key), r.get(sha_key), r.get(model_key)) for r in rows
                   if r.get(id_key) or not only_with_id},
                  key=lambda t: tuple(str(x) for x in t))
    return [{"prompt_id": a, "prompt_sha": (b or "")[:12], "model": c} for a, b, c in used]


def _settings_section(rd: RunData) -> dict:
    """The run manifest's environment rows, each stage's settings and tools, and the prompts used."""
    man = rd.manifest or {}
    rows = [[k, man.get(k)] for k in ("medvl_version", "git_hash", "python", "platform",
                                      "created_at", "updated_at") if man.get(k) is not None]
    stage_settings = [{"stage": st, "settings": json.dumps(info.get("settings", {}), indent=2, sort_keys=True),
                       "tools": info.get("tools") or {}, "updated_at": info.get("updated_at")}
                      for st, info in (man.get("stages") or {}).items()]
    return {"settings_rows": rows, "stage_settings": stage_settings,
            "judge_prompts": _prompts_used(rd.judgments, "prompt_id", "prompt_sha", "judge_model"),
            "split_prompts": _prompts_used(rd.splits.values(), "prompt_id", "prompt_sha", "model",
                                           only_with_id=True)}


def build_context(rd: RunData, images: ImageSink, max_figures: int = 60,
                  progress: ProgressFn = no_progress, with_images: bool = True) -> dict:
    """Everything the templates need, as plain data: one builder per report section."""
    problems = rd.problems
    from medvl.tag.reportview import tag_view

    ctx = {
        "llm_note": llm_note(rd),
        "title": (rd.manifest or {}).get("name") or rd.path.name, "run_path": str(rd.path),
        "version": REPORT_VERSION, "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "present": rd.present, "problems": problems,
        "missing": [n for n in ("figures.jsonl", "subcaptions.jsonl", "pairs.jsonl", "judgments.jsonl",
                                "metrics.json") if not rd.present.get(n)],
        "cards": _cards(rd), "counts": _counts(rd),
        **_rejects_section(rd, images, with_images),
        **_judge_section(rd, images, with_images),
        "worst": _worst_section(rd),
        **_metrics_section(rd, images, with_images, problems),
    }
    ctx["gallery"] = _gallery_section(rd, images, max_figures, progress, problems, with_images)
    ctx.update(n_figures=len(rd.figures), n_shown=len(ctx["gallery"]))
    # dataset make-up (tags.jsonl, export tag filters)
    ctx["tags"] = tag_view(rd.path, images.add if with_images else None, problems)
    ctx.update(_settings_section(rd), fmt=fmt_cell)
    return ctx


# models too small for the tasks: their answers show that the LLM stages run, not how well
PLUMBING_MODELS = ("smollm2-135m", "SmolLM2-135M")
LLM_OFF_NOTE = ("LLM stages off (span splitter, LLM aligner, judge): start a server (scripts/llm_server.sh start "
                "--port 8000) and run with --llm-url http://127.0.0.1:8000/v1 --llm-model NAME, or try make demo-llm.")


def llm_note(rd: RunData) -> str:
    """One line on the LLM stages: how to turn them on, or that a tiny model's results are plumbing."""
    models = {s.get("model") for s in rd.splits.values() if s.get("splitter") == "llm"}
    models |= {(p.get("llm") or {}).get("model") for p in rd.pairs if p.get("method") == "llm"}
    models |= {j.get("judge_model") for j in rd.judgments}
    models.discard(None)
    if not models:
        return LLM_OFF_NOTE
    tiny = sorted(m for m in models if any(t.lower() in str(m).lower() for t in PLUMBING_MODELS))
    if tiny:
        return (f"LLM results from {', '.join(tiny)} are plumbing: a model this small cannot split, align or judge; "
                "they show that the LLM stages run end to end, not how well they work.")
    return f"LLM stages ran with {', '.join(sorted(map(str, models)))}."


def _cards(rd: RunData) -> list[dict]:
    cards = []
    if rd.present.get("figures.jsonl"):
        cards.append({"label": "figures", "value": f"{len(rd.figures):,}"})
        cards.append({"label": "panels", "value": f"{sum(len(f.get('panels') or []) for f in rd.figures):,}"})
    if rd.present.get("subcaptions.jsonl"):
        cards.append({"label": "subcaptions",
                      "value": f"{sum(len(s.get('subcaptions') or []) for s in rd.splits.values()):,}"})
    if rd.present.get("pairs.jsonl"):
        cards.append({"label": "pairs", "value": f"{len(rd.pairs):,}"})
    if rd.present.get("rejects.jsonl"):
        cards.append({"label": "rejects", "value": f"{len(rd.rejects):,}"})
    if rd.judgments:
        means = [m for m in (judgment_mean(j) for j in rd.judgments) if m is not None]
        cards.append({"label": "judged", "value": f"{len(rd.judgments):,}"})
        if means:
            cards.append({"label": "mean judge score", "value": f"{sum(means) / len(means):.2f} / 5"})
    return cards


# ---------------------------------------------------------------- rendering

def _env(autoescape: bool):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = fmt_cell
    env.filters["ci"] = stats.fmt_ci
    env.filters["pct"] = lambda d: stats.fmt_ci(d, percent=True)
    env.filters["mdcell"] = lambda v: fmt_cell(v).replace("|", "\\|").replace("\n", " ")
    return env


def render_html(ctx: dict) -> str:
    env = _env(autoescape=True)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("report.html.j2").render(css=css, **ctx)


def render_markdown(ctx: dict) -> str:
    env = _env(autoescape=False)
    text = env.get_template("report.md.j2").render(**ctx)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def build_report(run_dir: str | Path, out: str | Path | None = None, fmt: str = "html",
                 max_figures: int = 60, embed: bool = True, extra: list[str | Path] = (),
                 progress: ProgressFn = no_progress) -> Path:
    """Write the report of `run_dir` and return its path.

    fmt="html": one page; images are data URIs (embed=True) or files in `<out stem>_files/`.
    fmt="md": a short Markdown summary (no images) that fits in a pull request.
    """
    if fmt not in ("html", "md"):
        raise InputError(str(out or run_dir), "bad_format", f"unknown report format {fmt!r} (use html or md)")
    rd = load_run(run_dir, extra)
    if not any(rd.present.get(k) for k in ("figures.jsonl", "subcaptions.jsonl", "pairs.jsonl",
                                           "judgments.jsonl", "metrics.json", "run.json", "rejects.jsonl")):
        raise InputError(str(run_dir), "empty_run",
                         "no run outputs found (expected figures.jsonl, pairs.jsonl, metrics.json or run.json)")
    out_path = Path(out) if out else rd.path / ("report.html" if fmt == "html" else "report.md")
    from medvl.runs import atomic_write_text

    if fmt == "md":
        ctx = build_context(rd, ImageSink(True, None), max_figures=0, progress=progress, with_images=False)
        atomic_write_text(out_path, render_markdown(ctx))
        return out_path
    folder = None if embed else out_path.parent / f"{out_path.stem}_files"
    sink = ImageSink(embed, folder, href_prefix=f"{out_path.stem}_files/")
    ctx = build_context(rd, sink, max_figures=max_figures, progress=progress)
    atomic_write_text(out_path, render_html(ctx))
    return out_path


# ---------------------------------------------------------------- browser check

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--disable-dev-shm-usage"]


def find_chromium() -> str | None:
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


def check_in_browser(html_path: str | Path, screenshot: str | Path | None = None, width: int = 1280,
                     height: int = 2000, binary: str | None = None, timeout: float = 60.0) -> dict:
    """Open a report in headless Chromium (the system's, driven by Playwright: no browser download) and
    say what a person would see.

    Returns {"errors": console errors, exceptions and failed loads, "requests": URLs that were
    neither file: nor data:, "figures": gallery figure count, "images": [(src prefix, naturalWidth)],
    "broken_images": count of images that did not decode, "title", "pixel_std": screenshot pixel
    standard deviation}; writes the PNG to `screenshot` when given.
    """
    binary = binary or find_chromium()
    if not binary:
        raise MedvlError("no chromium found (install the Debian package chromium)")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise MedvlError("the browser check needs Playwright: pip install 'medvl[browser]'") from exc
    url = Path(html_path).resolve().as_uri()
    errors: list[str] = []
    requests: list[str] = []
    probe = ("() => ({title: document.title, figures: document.querySelectorAll('article.fig').length,"
             " images: Array.from(document.images).map(i => [i.src.slice(0, 30), i.complete ? i.naturalWidth : -1])})")
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=binary, headless=True, args=CHROMIUM_FLAGS,
                                         timeout=timeout * 1000)
        except PlaywrightError as exc:
            raise MedvlError(f"{binary}: the browser did not start ({str(exc).splitlines()[0]})") from exc
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type in ("error", "assert") else None)
            page.on("pageerror", lambda e: errors.append(f"exception: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"load failed: {r.failure} {r.url[:80]}"))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "about:")) else requests.append(r.url))
            try:
                page.goto(url, wait_until="load", timeout=timeout * 1000)
            except PlaywrightError as exc:
                raise MedvlError(f"{html_path}: the browser could not open it ({str(exc).splitlines()[0]})") from exc
            info = page.evaluate(probe)
            png = page.screenshot(type="png", timeout=timeout * 1000)
        finally:
            browser.close()
    if screenshot:
        Path(screenshot).write_bytes(png)
    import numpy as np
    from PIL import Image

    px = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    imgs = [tuple(x) for x in info["images"]]
    return {"errors": errors, "requests": requests, "figures": info["figures"], "images": imgs,
            "broken_images": sum(1 for _, w in imgs if w <= 0), "title": info["title"],
            "pixel_std": float(px.std()), "screenshot_size": [int(px.shape[1]), int(px.shape[0])]}

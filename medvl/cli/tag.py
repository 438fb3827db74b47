"""`medvl tag`: look at what the tagger reads in a caption, and train the image classifier.

The stage itself runs with `medvl run ... -s tag` (or in any config that lists `tag`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from medvl.cli import app

tag_app = typer.Typer(help="Modality / anatomy / finding tags: inspect the text tagger, train the image classifier.",
                      no_args_is_help=True)
app.add_typer(tag_app, name="tag")


@tag_app.command("text")
def text(
    panel: str = typer.Argument(..., help="The panel's own words (a subcaption)."),
    caption: Optional[str] = typer.Option(None, "--caption", help="The figure's caption (context)."),
    tagger: str = typer.Option("text", "--tagger", help="text, llm (a served model through the per-vocabulary "
                               "schema) or both (the model's choice added to the text evidence)."),
    prompt: str = typer.Option("tag/fewshot@1", "--prompt", help="Prompt of the llm tagger (medvl prompts ls)."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="MEDVL_LLM_URL", help="OpenAI-compatible base URL."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="MEDVL_LLM_MODEL", help="Served model name."),
    llm_mode: str = typer.Option("json_schema", "--llm-mode", envvar="MEDVL_LLM_MODE",
                                 help="json_schema (vLLM), tools or json."),
    max_reasks: int = typer.Option(2, "--max-reasks", min=0),
) -> None:
    """Print the tags (and the evidence) the tagger gives these words, as JSON.

    With --tagger llm/both the model's validated answer (or the fallback reason) is printed too."""
    from medvl.cli.common import out
    from medvl.tag.text import tag_text

    t = tag_text(panel, caption)
    extra: dict = {}
    if tagger not in ("text", "llm", "both"):
        raise typer.BadParameter(f"--tagger must be text, llm or both, not {tagger!r}")
    if tagger != "text":
        from medvl.errors import MedvlError
        from medvl.llm.client import LLMSettings
        from medvl.tag.llm import LLMTagger, answer_tags
        from medvl.tag.vocab import load_vocab

        if not llm_url:
            raise MedvlError(f"--tagger {tagger} needs --llm-url (or $MEDVL_LLM_URL)")
        lt = LLMTagger(LLMSettings(url=llm_url, model=llm_model or "smollm2-135m", mode=llm_mode,
                                   max_reasks=max_reasks), prompt)
        try:
            vocab = load_vocab()
            q = lt.question(vocab, "cli", panel, caption)
            res = lt.ask([q])[0] if q is not None else None
        finally:
            lt.close()
        extra = {"tagger": tagger, "llm": lt.info(res)}
        if res is not None and res.value is not None:
            t = answer_tags(res.value, t, tagger)
        else:
            extra["tagger"] = "text"
            extra["fallback_reason"] = ("not asked: no words to tag from" if q is None else
                                        (res.error if res is not None else lt.dead) or "no answer")
    out.print_json(json.dumps({**extra,
        "modality": {"value": t.modality.value, "confidence": round(t.modality.confidence, 3),
                     "probs": {k: round(v, 3) for k, v in t.modality.probs.items()}},
        "sequences": t.sequences,
        "anatomy": {"value": t.anatomy.value, "confidence": round(t.anatomy.confidence, 3),
                    "probs": {k: round(v, 3) for k, v in t.anatomy.probs.items()}},
        "findings": t.findings, "negated_findings": t.negated_findings,
        "evidence": [m.to_dict() for m in t.mentions]}))


@tag_app.command("train-image")
def train_image(
    run_dirs: List[Path] = typer.Argument(..., help="Run directories with pairs.jsonl and figures.jsonl "
                                          "(parse -> split -> align done), e.g. of ../shared/corpus."),
    out: Path = typer.Option(None, "--out", "-o", help="Weights file (default: the shipped "
                             "medvl/tag/models/image_v1.json)."),
    min_confidence: float = typer.Option(0.85, "--min-confidence", help="Text-tag confidence a weak label needs."),
    min_examples: int = typer.Option(8, "--min-examples", help="Examples a class needs to get into a head."),
    real: bool = typer.Option(True, "--real/--no-real", help="Add the real MNI152 / pydicom slices (medvl[real])."),
) -> None:
    """Train the image classifier on weak labels from confident captions (README "Tag")."""
    from medvl.cli.common import console, progress_bar
    from medvl.tag.image import DEFAULT_MODEL
    from medvl.tag.train import train_image_model

    target = out or DEFAULT_MODEL
    with progress_bar("weak labels") as advance:
        rep = train_image_model(run_dirs, target, min_confidence=min_confidence, min_examples=min_examples,
                                use_real=real, progress=advance)
    for f, counts in rep.examples.items():
        console.print(f"{f} examples: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for f, h in rep.heldout.items():
        console.print(f"held-out papers, {f}: accuracy {h['accuracy']:.3f} on {h['n']} weak labels "
                      f"({', '.join(f'{k} {v}' for k, v in h['per_class'].items())})")
    console.print(f"real examples {rep.real}, unreadable images {rep.skipped}")
    console.print(f"[green]wrote[/] {target} ({target.stat().st_size / 1e3:.0f} kB)")

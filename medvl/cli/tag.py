"""`medvl tag RUN_DIR`: the tag stage alone; `medvl tag text`: what the tagger reads in a caption;
`medvl tag train-image`: train the image classifier.

`medvl tag RUN_DIR` (short for `medvl tag run RUN_DIR`) is the tag stage of `medvl run` run alone
(medvl/one_stage.py): the same settings, fingerprints, done markers and `medvl status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from medvl.cli import app
from medvl.cli.common import DefaultRun

tag_app = typer.Typer(cls=DefaultRun, no_args_is_help=True,
                      help="Modality / anatomy / finding tags: tag a run (`medvl tag RUN_DIR`), inspect the text "
                           "tagger (`medvl tag text`), train the image classifier (`medvl tag train-image`).")
app.add_typer(tag_app, name="tag")


def _vocab_pins(pins: list[str] | None) -> dict[str, int]:
    from medvl.errors import MedvlError

    out: dict[str, int] = {}
    for pin in pins or []:
        name, sep, version = pin.partition("=")
        if not sep or not name.strip() or not version.strip().isdigit():
            raise MedvlError(f"--vocab {pin!r}: expected VOCABULARY=VERSION, e.g. modality=1")
        out[name.strip()] = int(version)
    return out


@tag_app.command("run")
def tag_run_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory with aligned pairs (parse -> split -> align done)."),
    tagger: str = typer.Option("text", "--tagger", help="text (the lexicon), llm (a served model through the "
                               "per-vocabulary schema, falling back to the text tags with the reason) or both "
                               "(the model's choice added to the text evidence)."),
    image: str = typer.Option("auto", "--image", help="Image classifier: auto (when its weights exist), on or off."),
    image_model: Optional[Path] = typer.Option(None, "--image-model", help="Weights file (default: the shipped "
                                               "medvl/tag/models/image_v1.json)."),
    image_weight: Optional[float] = typer.Option(None, "--image-weight", min=0, help="Weight of the image's "
                                                 "probabilities beside the words' (default 1)."),
    image_below: Optional[float] = typer.Option(None, "--image-below", min=0, max=1.01, help="Read the image only "
                                                "where the words are less sure of the modality (default 0.3)."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Also tag whole figures (the raw export's rows)."),
    vocab: Optional[List[str]] = typer.Option(None, "--vocab", help="Pin a vocabulary version, VOCABULARY=VERSION "
                                              "(repeatable: --vocab modality=1)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Prompt of the llm tagger (default tag/fewshot@1)."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="llm: the answer cache RUN_DIR/.cache/llm-tag.sqlite."),
    keep_fallbacks: bool = typer.Option(False, "--keep-fallbacks", help="llm: do not ask again for rows that fell "
                                        "back to the text tags in an earlier run."),
    llm_url: Optional[str] = typer.Option(None, "--llm-url", envvar="MEDVL_LLM_URL", help="OpenAI-compatible base URL(s), comma-separated."),
    llm_model: Optional[str] = typer.Option(None, "--llm-model", envvar="MEDVL_LLM_MODEL", help="Served model name."),
    llm_mode: Optional[str] = typer.Option(None, "--llm-mode", envvar="MEDVL_LLM_MODE", help="json_schema (default, vLLM), tools or json."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-c", min=1, help="Requests in flight (default 8)."),
    max_reasks: Optional[int] = typer.Option(None, "--max-reasks", min=0, help="Re-asks of an invalid answer (default 2)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=16, help="Override the prompt's max_tokens."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per request."),
    force: bool = typer.Option(False, "--force", help="Tag every paper again, even those done with the same settings "
                               "and inputs (llm answers come from the cache)."),
) -> None:
    """Tag every pair (and whole figure) of a run: modality, MRI sequence, anatomy, findings -> RUN_DIR/tags.jsonl.

    This is the tag stage of `medvl run` (the same engine, settings, fingerprints and done markers): a rerun with
    the same settings and inputs reuses every paper, a changed setting or pair tags again, and
    `medvl status RUN_DIR` says why.  Exit code: 0 when tagged, 2 on usage or fatal errors."""
    from medvl.cli.common import console, out, progress_bar
    from medvl.config import LLMSettings
    from medvl.errors import MedvlError
    from medvl.one_stage import run_stage
    from medvl.runs import read_jsonl
    from medvl.tag.stage import OUTPUT

    if not run_dir.is_dir():
        raise MedvlError(f"{run_dir}: run directory does not exist")
    given = {"tagger": tagger, "image": image, "figures": figures, "vocab": _vocab_pins(vocab),
             "image_model": str(image_model.resolve()) if image_model else None, "image_weight": image_weight,
             "image_below": image_below, "prompt": prompt, "cache": cache, "retry_fallbacks": not keep_fallbacks,
             "mode": llm_mode, "concurrency": concurrency, "max_reasks": max_reasks, "timeout_s": timeout,
             "params": {"max_tokens": max_tokens} if max_tokens else None}
    settings = {k: v for k, v in given.items() if v is not None}  # the rest: the stage's defaults, as in medvl run
    _check_options(settings)
    with progress_bar("tag") as advance:
        res = run_stage(run_dir, "tag", settings, force=force, progress=advance,
                        llm=LLMSettings(urls=llm_url, model=llm_model))
    rows = list(read_jsonl(run_dir / OUTPUT))
    kinds = {k: sum(1 for r in rows if r.get("kind") == k) for k in ("pair", "figure")}
    out.print(f"tagged {len(rows)} rows ({kinds['pair']} pairs, {kinds['figure']} figures) of {res.planned} papers, "
              f"{res.ran} tagged now ({res.reused} already done) -> {run_dir / OUTPUT}")
    if not res.ran:
        console.print("tag: already done with the same settings and inputs; --force tags again")
    redone = {k: v for k, v in res.redone.items() if k != "not done before"}
    if redone:  # the words of `medvl status`
        console.print("tag: tagged again: " + ", ".join(f"{v} paper(s) ({k})" for k, v in redone.items()))
    if tagger != "text":
        fell_back = sum(1 for r in rows if r.get("fallback_reason"))
        console.print(f"tagger {tagger}: {len(rows) - fell_back} rows from the model, {fell_back} kept the text tags")


#: the option that gives each setting of `medvl tag RUN_DIR` (medvl.tag.stage.TagSettings)
_OPTION_OF = {"tagger": "--tagger", "image": "--image", "figures": "--figures", "vocab": "--vocab",
              "image_model": "--image-model", "image_weight": "--image-weight", "image_below": "--image-below",
              "prompt": "--prompt", "cache": "--cache", "retry_fallbacks": "--keep-fallbacks", "mode": "--llm-mode",
              "concurrency": "--concurrency", "max_reasks": "--max-reasks", "timeout_s": "--timeout",
              "params": "--max-tokens"}


def _check_options(settings: dict) -> None:
    """A bad option value is an error naming the option (the stage itself would name stages.tag.SETTING,
    a key of a config file the user never wrote)."""
    from pydantic import ValidationError

    from medvl.errors import MedvlError
    from medvl.tag.stage import TagSettings

    try:
        TagSettings.model_validate(settings)
    except ValidationError as exc:
        raise MedvlError("; ".join(f"{_OPTION_OF.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'medvl tag'}: "
                                   f"{e['msg']}, not {e['input']!r}" for e in exc.errors())) from None


@tag_app.command("text")
def text(
    panel: str = typer.Argument(..., help="The panel's own words (a subcaption)."),
    caption: Optional[str] = typer.Option(None, "--caption", help="The figure's caption (context)."),
    reference: Optional[list[str]] = typer.Option(None, "--reference", help="A sentence of the article citing "
                                                  "the figure (repeatable); read where the caption is silent."),
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

    t = tag_text(panel, caption, references=reference or None)
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

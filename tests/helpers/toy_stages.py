"""Toy stages for engine tests (a plugin file's text: tests write it to a .py file and name it in `plugins:`).

toy_make reads numbers from *.txt inputs (bad/crash/hang/boom inputs exercise rejects, crashes, timeouts and
errors), toy_double doubles them per shard (a fail flag file makes shard b fail like a dead server), toy_sum
adds everything up as a whole stage."""

import textwrap

TOY = textwrap.dedent('''
    import os, signal, time
    from pathlib import Path
    from medvl.errors import InputError
    from medvl.pipeline import EmptySettings, Shard, Stage, register, file_stamp, upstream_shards
    from medvl.runs import read_jsonl, atomic_write_text
    from medvl.settings import StrictSettings

    class MakeSettings(StrictSettings):
        scale: int = 1

    class DoubleSettings(StrictSettings):
        fail_flag: str | None = None

    def plan_make(ctx):
        root = Path(ctx.config.inputs.pdfs)
        for p in sorted(root.glob("*.txt")):
            yield Shard(key=p.stem, payload={"path": str(p)}, fingerprint=str(file_stamp(p)), source=str(p))

    def run_make(sctx):
        text = Path(sctx.payload["path"]).read_text()
        if text.startswith("bad"):
            raise InputError(sctx.payload["path"], "not_numbers", "this file has no numbers")
        if text.startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        if text.startswith("hang"):
            time.sleep(60)
        if text.startswith("boom"):
            raise RuntimeError("unexpected")
        rows = [{"key": sctx.key, "i": i, "n": int(t) * sctx.settings.get("scale", 1)}
                for i, t in enumerate(text.split())]
        return rows, []

    def run_double(sctx):
        flag = sctx.settings.get("fail_flag")
        if flag and os.path.exists(flag) and sctx.key == "b":
            raise ConnectionError("server down")
        return ([dict(r, n=r["n"] * 2) for r in sctx.upstream_records("toy_make")],
                [{"stage": "toy_double", "id": sctx.key, "reason": "odd"}] if sctx.key == "a" else [])

    def run_sum(ctx, progress):
        total = sum(r["n"] for r in read_jsonl(ctx.run.file("toy_double.jsonl")))
        atomic_write_text(ctx.run.file("toy_sum.txt"), str(total))
        progress(1)
        return {"records": 1, "outputs": {"sum": "toy_sum.txt"}}

    register(Stage("toy_make", "1", order=1001, output="toy_make.jsonl", plan=plan_make,
                   run_shard=run_make, timeout_s=5, settings_model=MakeSettings), replace=True)
    register(Stage("toy_double", "1", order=1002, output="toy_double.jsonl", needs=("toy_make",),
                   plan=lambda ctx: upstream_shards(ctx, "toy_make"), run_shard=run_double,
                   on_error="retry", settings_model=DoubleSettings), replace=True)
    register(Stage("toy_sum", "1", order=1003, needs=("toy_double",), run_all=run_sum,
                   settings_model=EmptySettings), replace=True)
''')

"""Whole runs at scale: parse throughput by workers, peak memory by collection size, demo wall time.

    .venv/bin/python benchmarks/scale.py                       # everything (several minutes)
    .venv/bin/python benchmarks/scale.py --sizes 100,1000 --no-demo --no-throughput

1. **Throughput**: `medvl run` with only the parse stage (default settings: 150 dpi, OCR when
   needed) on the same synthetic papers with 1, then 2 workers (``--workers``); papers/s of the
   parse stage and the speedup over 1 worker.  A control runs pure CPU work through the same pool
   first: on a shared machine its speedup is the most any stage can get at that moment.
2. **Memory**: `medvl run` with parse, split (rules), align and export on 100 and 1,000
   synthetic papers (``--sizes``).  The papers are clones of a small generated pool, each made
   distinct by a trailing PDF comment (so each is its own paper id); parse runs at 72 dpi without
   OCR to keep the 1,000-paper run short.  The peak RSS of the whole process tree (the run, the
   fork server and every worker, summed; sampled every 0.1 s) must not grow with the count.
3. **Demo**: wall time of `medvl run --demo` (the whole flow, tiny training on the CPU) and the
   time of each stage.

Everything is printed; ``--json FILE`` also writes the numbers.  Timings depend on the machine and
on its load: compare numbers from one run of this script, on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEDVL = [sys.executable, "-c", "from medvl.cli import main; main()"]


# ---------------------------------------------------------------- helpers

class TreeSampler:
    """Peak RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.1):
        import psutil

        self.proc = psutil.Process(pid)
        self.every = every
        self.peak_tree = 0
        self.peak_main = 0
        self.peak_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                total += rss
                if p.pid == self.proc.pid:
                    self.peak_main = max(self.peak_main, rss)
            self.peak_tree = max(self.peak_tree, total)
            self.peak_procs = max(self.peak_procs, len(procs))
            self._stop.wait(self.every)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_medvl(args: list[str], sample: bool = False) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(MEDVL + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = None
    if sample:
        sampler = TreeSampler(proc.pid).__enter__()
    out, _ = proc.communicate()
    if sampler:
        sampler.__exit__()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"medvl {' '.join(args)} failed ({proc.returncode}):\n{out[-3000:]}")
    res = {"wall_s": round(wall, 2)}
    if sampler:
        res.update(peak_tree_rss_mb=round(sampler.peak_tree / 2**20, 1),
                   peak_main_rss_mb=round(sampler.peak_main / 2**20, 1), peak_processes=sampler.peak_procs)
    return res


def stage_info(run_dir: Path) -> dict:
    data = json.loads((run_dir / "run.json").read_text())
    return data.get("pipeline", {}).get("stages", {})


def write_config(path: Path, run_dir: Path, pdfs: Path, stages: dict, workers: int) -> Path:
    path.write_text(json.dumps({"out": str(run_dir), "inputs": {"pdfs": str(pdfs)},
                                "executor": {"workers": workers}, "stages": stages}))
    return path


def clone_corpus(pool: Path, dst: Path, n: int) -> None:
    """n distinct papers (distinct bytes, so distinct paper ids) from the PDFs in `pool`."""
    dst.mkdir(parents=True, exist_ok=True)
    sources = sorted(pool.glob("*.pdf"))
    for i in range(n):
        data = sources[i % len(sources)].read_bytes()
        (dst / f"paper-{i:05d}.pdf").write_bytes(data + f"\n% medvl benchmark clone {i}\n".encode())


# ---------------------------------------------------------------- the benchmarks

def _spin(seconds: float) -> int:
    t = time.process_time()
    x = 0
    while time.process_time() - t < seconds:
        x += 1
    return x


def control(workers: list[int], tasks: int = 8, cpu_s: float = 0.5) -> dict:
    """The same pool on pure CPU work: how much parallelism this machine gives us right now."""
    from medvl.executors.local import LocalExecutor

    out = {}
    for w in workers:
        t0 = time.perf_counter()
        list(LocalExecutor(w).map(_spin, [cpu_s] * tasks))
        out[w] = round(time.perf_counter() - t0, 2)
    base = out.get(1)
    for w, secs in out.items():
        print(f"  control, {w} worker(s): {tasks * cpu_s:g} CPU-s of pure Python in {secs:.2f} s"
              + (f" (speedup {base / secs:.2f})" if base else ""), flush=True)
    return {"tasks": tasks, "cpu_s_each": cpu_s, "wall_s": out}


def throughput(work: Path, pool: Path, n: int, workers: list[int]) -> dict:
    papers = work / "tp-papers"
    clone_corpus(pool, papers, n)
    out = {"papers": n, "settings": "parse defaults (150 dpi, OCR auto)", "runs": {}}
    for w in workers:
        run_dir = work / f"tp-run-{w}"
        cfg = write_config(work / f"tp-{w}.json", run_dir, papers, {"parse": {}}, w)
        res = run_medvl(["run", str(cfg), "-q"])
        st = stage_info(run_dir)["parse"]
        secs = st["seconds"]
        out["runs"][w] = {"parse_s": secs, "papers_per_s": round(n / secs, 3), "figures": st["records"],
                          "rejects": st["rejects"], "wall_s": res["wall_s"]}
        print(f"  parse, {w} worker(s): {n} papers in {secs:.1f} s = {n / secs:.2f} papers/s "
              f"({st['records']} figures, {st['rejects']} rejects); whole command {res['wall_s']:.1f} s", flush=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    if 1 in out["runs"]:
        base = out["runs"][1]["parse_s"]
        for w, r in out["runs"].items():
            r["speedup"] = round(base / r["parse_s"], 2)
    return out


def memory(work: Path, pool: Path, sizes: list[int], workers: int) -> dict:
    stages = {"parse": {"dpi": 72, "ocr": "never"}, "split": {}, "align": {}, "export": {"variants": ["aligned"]}}
    out = {"settings": f"parse 72 dpi, no OCR; split rules; align; export aligned; {workers} workers", "runs": {}}
    for n in sizes:
        papers = work / f"mem-papers-{n}"
        clone_corpus(pool, papers, n)
        run_dir = work / f"mem-run-{n}"
        cfg = write_config(work / f"mem-{n}.json", run_dir, papers, stages, workers)
        res = run_medvl(["run", str(cfg), "-q"], sample=True)
        st = stage_info(run_dir)
        res.update({f"{k}_records": v.get("records") for k, v in st.items()})
        res.update({f"{k}_s": v.get("seconds") for k, v in st.items()})
        out["runs"][n] = res
        print(f"  {n} papers: peak RSS {res['peak_tree_rss_mb']:.0f} MB (process tree, {res['peak_processes']} "
              f"processes), {res['peak_main_rss_mb']:.0f} MB (main); {st['parse']['records']} figures, "
              f"{st['align']['records']} pairs; {res['wall_s']:.1f} s", flush=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(papers, ignore_errors=True)
    if len(sizes) >= 2:
        a, b = out["runs"][sizes[0]], out["runs"][sizes[-1]]
        out["growth_tree"] = round(b["peak_tree_rss_mb"] / a["peak_tree_rss_mb"], 2)
        out["growth_main"] = round(b["peak_main_rss_mb"] / a["peak_main_rss_mb"], 2)
    return out


def demo(work: Path) -> dict:
    run_dir = work / "demo"
    res = run_medvl(["run", "--demo", "--out", str(run_dir), "-q"], sample=True)
    st = stage_info(run_dir)
    res["stages"] = {k: {"state": v.get("state"), "seconds": v.get("seconds")} for k, v in st.items()}
    times = ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in res["stages"].items() if v.get("seconds"))
    print(f"  demo: {res['wall_s']:.1f} s wall, peak RSS {res['peak_tree_rss_mb']:.0f} MB; {times}", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder, removed)")
    ap.add_argument("--pool", type=int, default=24, help="synthetic papers generated (clones come from these)")
    ap.add_argument("--throughput-papers", type=int, default=24)
    ap.add_argument("--workers", default="1,2", help="worker counts for the throughput runs")
    ap.add_argument("--sizes", default="100,1000", help="collection sizes for the memory runs")
    ap.add_argument("--memory-workers", type=int, default=2)
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args()

    from medvl.synth import generate_corpus

    work = args.work or Path(tempfile.mkdtemp(prefix="medvl-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}}
    try:
        t0 = time.perf_counter()
        generate_corpus(work / "pool", papers=args.pool, seed=11)
        print(f"pool: {args.pool} synthetic papers in {time.perf_counter() - t0:.1f} s", flush=True)
        pool = work / "pool" / "papers"
        if not args.no_throughput:
            print("throughput:", flush=True)
            wl = [int(w) for w in args.workers.split(",")]
            results["control"] = control(wl)
            results["throughput"] = throughput(work, pool, args.throughput_papers, wl)
        if not args.no_memory:
            print("memory:", flush=True)
            results["memory"] = memory(work, pool, [int(n) for n in args.sizes.split(",")], args.memory_workers)
        if not args.no_demo:
            print("demo:", flush=True)
            results["demo"] = demo(work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_avg_end"] = os.getloadavg()
    tp = results.get("throughput", {}).get("runs", {})
    mem = results.get("memory", {})
    print("\nsummary")
    for w, r in tp.items():
        print(f"  parse throughput, {w} worker(s): {r['papers_per_s']} papers/s (speedup {r.get('speedup')})")
    ctl = results.get("control", {}).get("wall_s", {})
    if 1 in ctl and len(ctl) > 1:
        print("  control (pure CPU work, same pool): speedup "
              + ", ".join(f"{w} workers x{ctl[1] / s:.2f}" for w, s in ctl.items() if w != 1)
              + " -- the most this machine allows right now")
    for n, r in mem.get("runs", {}).items():
        print(f"  peak RSS at {n} papers: {r['peak_tree_rss_mb']} MB tree / {r['peak_main_rss_mb']} MB main")
    if "growth_tree" in mem:
        print(f"  memory growth {args.sizes.replace(',', ' -> ')} papers: x{mem['growth_tree']} (tree), "
              f"x{mem['growth_main']} (main)")
    if "demo" in results:
        print(f"  demo wall time: {results['demo']['wall_s']} s")
    print(f"  load average start {results['machine']['load_avg_start']}, end {results['machine']['load_avg_end']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()

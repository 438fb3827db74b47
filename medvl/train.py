"""Train CLIP models with open_clip_train on an exported DATA_DIR.

medvl does not have its own training loop: `train()` builds the argument list of
`open_clip_train.main` and runs it in a subprocess, ``python -m medvl.train <open_clip args>``
(or ``torchrun --nproc_per_node N -m medvl.train ...`` for several GPUs).  Running this module
as a program registers medvl's model configs (models/*.json) with open_clip and then calls
``open_clip_train.main.main(args)``, so open_clip_train sees ``medvl-tiny`` and friends.

Output folder (``--out``)::

    OUT/medvl_train.json     medvl's record: settings, the open_clip command, data manifest + hash, versions
    OUT/params.txt           open_clip_train's resolved parameters
    OUT/out.log              open_clip_train's log
    OUT/checkpoints/epoch_N.pt   the latest checkpoint (older ones are deleted)

Data formats (``data_format``): ``csv`` reads DATA_DIR/train.csv (and val.csv) with open_clip's CSV
loader; ``wds`` streams export's WebDataset shards (``--dataset-type webdataset``): the shard pattern
of each split comes from DATA_DIR/manifest.json (``splits.<split>.shards``, else the shards found in
DATA_DIR/wds/), ``--train-num-samples`` / ``--val-num-samples`` from DATA_DIR/wds/sizes.json (the
manifest's ``num_samples`` when sizes.json lacks a shard).  Data loader workers are capped at the
number of train shards per process (open_clip needs a shard per worker).

A rerun with the same OUT resumes from the latest checkpoint (``--resume latest``) when that
checkpoint was made with the same settings (all but ``epochs``) on the same data (:func:`data_identity`)
and no more epochs than asked: an interrupted run goes on, a finished run is not trained again, more
epochs train only the new ones.  Otherwise (another lr, other data, fewer epochs, ``resume=False``) the
old checkpoints are deleted and training starts over: resuming them would train nothing or the wrong
model.  Nothing is downloaded: the subprocess runs with HF_HUB_OFFLINE=1, the
default tokenizer is open_clip's bundled BPE vocabulary, and ``pretrained`` must be a local file.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from medvl.errors import InputError, MedvlError
from medvl.progress import ProgressFn, no_progress
from medvl.versioning import stage_version

STAGE = "train"
STAGE_VERSION = stage_version(STAGE)  # derived from the train code (medvl/versioning.py)
TOOLS = ("torch", "torchvision", "open_clip_torch", "timm", "webdataset")
TRAIN_RECORD = "medvl_train.json"
DATA_FORMATS = ("csv", "wds")
#: open_clip_train's --precision choices (open_clip_train/params.py)
PRECISIONS = ("amp", "amp_bf16", "amp_bfloat16", "bf16", "fp16", "pure_bf16", "pure_fp16", "fp32")
#: the device types open_clip_train knows (open_clip_train/distributed.py is_device_available), each with an
#: optional index (cuda:1); another name it only warns about and then fails on, or falls back to the CPU
DEVICE_TYPES = ("cpu", "cuda", "mps", "npu")


def device_problem(device: Any) -> str | None:
    """Why `device` is no device open_clip_train trains on, or None."""
    if isinstance(device, str) and re.fullmatch(rf"(?:{'|'.join(DEVICE_TYPES)})(?::\d+)?", device):
        return None
    return f"must be {', '.join(DEVICE_TYPES)} or one of them with an index (cuda:1), not {device!r}"



def model_dirs() -> list[Path]:
    """Folders of open_clip model configs medvl registers: the built-in ones (models/, package data in a
    wheel) plus $MEDVL_MODELS_DIR (os.pathsep list)."""
    from medvl.resources import builtin_dir, user_dirs

    return [d for d in dict.fromkeys([builtin_dir("models"), *user_dirs("models")]) if d.is_dir()]


def local_model_names() -> list[str]:
    """Names of the model configs in medvl's model folders (without importing open_clip)."""
    names: list[str] = []
    for d in model_dirs():
        names += sorted(p.stem for p in d.glob("*.json"))
    return names


def register_models() -> list[str]:
    """Register medvl's model configs with open_clip; return the names now known."""
    import open_clip

    for d in model_dirs():
        if d not in getattr(open_clip.factory, "_MODEL_CONFIG_PATHS", []):
            open_clip.add_model_config(d)
    return open_clip.list_models()


def offline_env(base: dict[str, str] | None = None, threads: int | None = None) -> dict[str, str]:
    """The environment for training and evaluation: never reach a model hub; optionally cap CPU threads."""
    env = dict(os.environ if base is None else base)
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    return env


# ---------------------------------------------------------------- data checks

def read_split_csv(path: Path) -> list[dict[str, str]]:
    """Rows of an exported open_clip CSV (tab-separated, columns filepath and title)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
            fields = reader.fieldnames or []
            missing = [c for c in ("filepath", "title") if c not in fields]
            if missing:
                raise InputError(str(path), "bad_columns",
                                 f"needs tab-separated columns filepath and title, found {fields}")
            return [dict(r) for r in reader]
    except FileNotFoundError as exc:
        raise InputError(str(path), "missing", "file not found (run `medvl export` first)") from exc
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "not_utf8", f"not UTF-8 text ({exc.reason})") from exc


def resolve_image(data_dir: Path, filepath: str) -> Path:
    p = Path(filepath)
    return p if p.is_absolute() else data_dir / p


@dataclass
class WdsSplit:
    """One split's WebDataset shards as export wrote them."""

    split: str
    pattern: str  # absolute brace pattern: DATA_DIR/wds/train-{000000..000003}.tar
    shards: list[Path]
    num_samples: int


def wds_split(data_dir: Path, split: str, manifest: dict | None = None) -> WdsSplit | None:
    """The shards of `split` and their sample count, or None when the export wrote none for it.

    A listed shard that is missing, or a count that is nowhere (sizes.json nor the manifest),
    is an InputError naming the file.
    """
    data_dir = Path(data_dir)
    if manifest is None:
        manifest = load_data_manifest(data_dir)[0]
    info = ((manifest.get("splits") or {}).get(split) or {})
    rel = info.get("shards")
    if rel:
        pattern = str(data_dir / rel)
        shards = [Path(u) for u in _expand_braces(pattern)]
    else:  # no manifest entry: whatever export left in wds/
        shards = sorted((data_dir / "wds").glob(f"{split}-[0-9]*.tar"))
        if not shards:
            return None
        if len(shards) == 1:
            pattern = str(shards[0])
        else:
            width = len(shards[0].stem.rsplit("-", 1)[1])
            pattern = str(data_dir / "wds" / f"{split}-{{{0:0{width}d}..{len(shards) - 1:0{width}d}}}.tar")
            if [Path(u) for u in _expand_braces(pattern)] != shards:
                raise InputError(str(data_dir / "wds"), "shard_gap",
                                 f"{split} shards are not numbered 0..{len(shards) - 1} without gaps")
    missing = [p for p in shards if not p.is_file()]
    if missing:
        raise InputError(str(missing[0]), "missing", f"WebDataset shard not found ({len(missing)} of "
                                                     f"{len(shards)} {split} shards missing; export again)")
    sizes_path = data_dir / "wds" / "sizes.json"
    sizes: dict = {}
    if sizes_path.is_file():
        try:
            sizes = json.loads(sizes_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(str(sizes_path), "bad_json", f"not valid JSON ({exc.msg})") from exc
    if all(p.name in sizes for p in shards):
        n = sum(int(sizes[p.name]) for p in shards)
    elif isinstance(info.get("num_samples"), int):
        n = int(info["num_samples"])
    else:
        raise InputError(str(sizes_path), "no_sizes", f"no sample count for the {split} shards "
                                                      "(sizes.json or manifest splits.<split>.num_samples)")
    return WdsSplit(split=split, pattern=pattern, shards=shards, num_samples=n)


def _expand_braces(pattern: str) -> list[str]:
    """'a-{000..002}.tar' -> the three names (the brace syntax open_clip and webdataset read)."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if not m:
        return [pattern]
    lo, hi, width = int(m.group(1)), int(m.group(2)), len(m.group(1))
    return [pattern[:m.start()] + f"{i:0{width}d}" + pattern[m.end():] for i in range(lo, hi + 1)]


def data_identity(data_dir: str | Path, names: Sequence[str], shards: bool = False) -> dict[str, Any]:
    """What tells one DATA_DIR from another without reading its images: the sha256 of each named file
    (None when absent: manifest.json, the split CSVs; export's manifest changes with its inputs) and, with
    `shards`, (size, mtime) of the WebDataset shards and wds/sizes.json."""
    from medvl.records import sha256_file

    root = Path(data_dir)
    ident: dict[str, Any] = {n: sha256_file(root / n) if (root / n).is_file() else None for n in names}
    if shards:
        ident["wds"] = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in sorted((root / "wds").glob("*"))
                        if p.is_file()]
    return ident


def train_data_identity(cfg: "TrainConfig") -> dict[str, Any]:
    """The data_identity of what `train(cfg)` reads."""
    return data_identity(cfg.data_dir, ("manifest.json", cfg.train_csv, cfg.val_csv), shards=cfg.data_format == "wds")


def load_data_manifest(data_dir: Path) -> tuple[dict, str | None]:
    """DATA_DIR/manifest.json and its sha256 (empty dict and None when there is none)."""
    from medvl.records import sha256_file

    path = data_dir / "manifest.json"
    if not path.exists():
        return {}, None
    try:
        return json.loads(path.read_text(encoding="utf-8")), sha256_file(path)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), "bad_json", f"not valid JSON ({exc.msg})") from exc


# ---------------------------------------------------------------- settings

@dataclass
class TrainConfig:
    data_dir: Path
    out: Path
    model: str = "medvl-tiny"
    pretrained: Path | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    wd: float = 0.1
    warmup: int = 10
    seed: int = 0
    workers: int = 2
    device: str = "cpu"
    gpus: int = 1
    threads: int | None = None  # CPU threads per process (OMP_NUM_THREADS); None: torch's default
    precision: str | None = None  # None: fp32 on CPU, amp on CUDA
    val_frequency: int = 1  # 0: no validation during training
    log_every_n_steps: int | None = None
    train_csv: str = "train.csv"
    val_csv: str = "val.csv"
    data_format: str = "csv"  # csv: train.csv / val.csv; wds: export's WebDataset shards (wds/*.tar)
    extra_args: list[str] = field(default_factory=list)  # passed through to open_clip_train

    def __post_init__(self) -> None:
        if self.data_format not in DATA_FORMATS:
            raise MedvlError(f"data format must be one of {', '.join(DATA_FORMATS)}, not {self.data_format!r}")
        self.data_dir = Path(self.data_dir).resolve()
        self.out = Path(self.out).resolve()
        if self.pretrained is not None:
            self.pretrained = Path(self.pretrained).resolve()


def resolve_pretrained(path: Path) -> Path:
    """A local checkpoint file, or a medvl train folder (its latest checkpoint)."""
    if path.is_dir():
        ckpt = latest_checkpoint(path)
        if ckpt is None:
            raise InputError(str(path), "no_checkpoint", "folder holds no checkpoints/epoch_*.pt")
        return ckpt
    if not path.is_file():
        raise InputError(str(path), "missing", "pretrained checkpoint not found (only local files are used)")
    return path


def checkpoint_stamp(path: str | Path) -> list[Any]:
    """The checkpoint file `path` means (a file, or a train folder's latest) and its size and mtime: what
    a stage that reads it from outside its run directory puts into its fingerprint."""
    ckpt = resolve_pretrained(Path(path)).resolve()
    st = ckpt.stat()
    return [str(ckpt), st.st_size, st.st_mtime_ns]


def latest_checkpoint(out: Path) -> Path | None:
    """The newest epoch_N.pt (or epoch_latest.pt) under OUT/checkpoints."""
    d = Path(out) / "checkpoints"
    if not d.is_dir():
        return None
    latest = d / "epoch_latest.pt"
    if latest.exists():
        return latest

    def epoch(p: Path) -> int:
        m = re.fullmatch(r"epoch_(\d+)\.pt", p.name)
        return int(m.group(1)) if m else -1

    ckpts = [p for p in d.glob("epoch_*.pt") if epoch(p) >= 0]
    return max(ckpts, key=epoch) if ckpts else None


def data_args(cfg: TrainConfig) -> tuple[list[str], list[str], int]:
    """open_clip_train's train and val data arguments, and the data loader workers to use."""
    if cfg.data_format == "csv":
        train = ["--train-data", str(cfg.data_dir / cfg.train_csv), "--dataset-type", "csv",
                 "--csv-separator", "\t", "--csv-img-key", "filepath", "--csv-caption-key", "title"]
        val_path = cfg.data_dir / cfg.val_csv
        val = (["--val-data", str(val_path), "--val-frequency", str(cfg.val_frequency)]
               if cfg.val_frequency > 0 and val_path.exists() and _count_rows(val_path) > 0 else [])
        return train, val, cfg.workers
    manifest = load_data_manifest(cfg.data_dir)[0]
    tr = wds_split(cfg.data_dir, "train", manifest)
    if tr is None:
        raise InputError(str(cfg.data_dir / "wds"), "no_shards",
                         "no train WebDataset shards (export with --formats wds, or train with --data-format csv)")
    train = ["--train-data", tr.pattern, "--dataset-type", "webdataset", "--train-num-samples", str(tr.num_samples)]
    val: list[str] = []
    if cfg.val_frequency > 0:
        va = wds_split(cfg.data_dir, "val", manifest)
        if va is not None and va.num_samples > 0:
            val = ["--val-data", va.pattern, "--val-num-samples", str(va.num_samples),
                   "--val-frequency", str(cfg.val_frequency)]
    # open_clip gives every data loader worker of every process its own shards
    workers = min(cfg.workers, len(tr.shards) // max(1, cfg.gpus))
    return train, val, workers


def open_clip_args(cfg: TrainConfig, n_train: int | None = None) -> list[str]:
    """The argument list for open_clip_train.main (everything but the program name)."""
    precision = cfg.precision or ("amp" if cfg.device.startswith("cuda") else "fp32")
    train_data, val_data, workers = data_args(cfg)
    args = [
        *train_data,
        "--model", cfg.model,
        "--epochs", str(cfg.epochs),
        "--batch-size", str(cfg.batch_size),
        "--lr", repr(float(cfg.lr)),
        "--wd", repr(float(cfg.wd)),
        "--warmup", str(cfg.warmup),
        "--seed", str(cfg.seed),
        "--workers", str(workers),
        "--device", cfg.device,
        "--precision", precision,
        "--logs", str(cfg.out.parent),
        "--name", cfg.out.name,
        "--resume", "latest",
        "--save-frequency", "1",
        "--delete-previous-checkpoint",
        "--report-to", "",
        "--zeroshot-frequency", "0",
    ]
    args += val_data
    steps = None
    if n_train:
        steps = max(1, n_train // max(1, cfg.batch_size * max(1, cfg.gpus)))
    every = cfg.log_every_n_steps or (max(1, min(100, steps // 10)) if steps else 100)
    args += ["--log-every-n-steps", str(every)]
    if cfg.pretrained is not None:
        args += ["--pretrained", str(resolve_pretrained(cfg.pretrained))]
    return args + list(cfg.extra_args)


def command(cfg: TrainConfig, args: list[str]) -> list[str]:
    """The process to start: this module as a program, through torchrun for several GPUs."""
    if cfg.gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={cfg.gpus}", "-m", "medvl.train", *args]
    return [sys.executable, "-m", "medvl.train", *args]


def _count_rows(path: Path) -> int:
    try:
        return len(read_split_csv(path))
    except InputError:
        return 0


@dataclass
class TrainResult:
    out: Path
    checkpoint: Path
    epochs_done: int
    trained_samples: int
    seconds: float
    samples_per_second: float | None  # wall clock, including start-up
    loop_samples_per_second: float | None  # between the first and last logged training step
    resumed_from_epoch: int
    command: list[str]
    log: Path

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


_TRAIN_LINE = re.compile(r"Train Epoch: (\d+) \[\s*(\d+)/\s*(\d+) \((\d+)%\)\]")
_RESUME_LINE = re.compile(r"resuming checkpoint '.*' \(epoch (\d+)\)")


def _checkpoint_epoch(path: Path | None) -> int:
    if path is None:
        return 0
    m = re.fullmatch(r"epoch_(\d+)\.pt", path.name)
    return int(m.group(1)) if m else 0


def check_data(cfg: TrainConfig) -> list[dict[str, str]]:
    """Fail early, with the file and reason, on data that open_clip_train would choke on.

    Returns the CSV rows (csv format); for wds, see check_wds."""
    if not cfg.data_dir.is_dir():
        raise InputError(str(cfg.data_dir), "missing", "data folder not found (run `medvl export` first)")
    train_csv = cfg.data_dir / cfg.train_csv
    rows = read_split_csv(train_csv)
    need = cfg.batch_size * max(1, cfg.gpus)
    if len(rows) < need:
        raise InputError(str(train_csv), "too_few_rows",
                         f"{len(rows)} training pairs, fewer than one batch ({need}); lower --batch-size")
    missing = [r["filepath"] for r in rows if not resolve_image(cfg.data_dir, r["filepath"]).exists()]
    if missing:
        raise InputError(str(train_csv), "missing_images",
                         f"{len(missing)} image files not found, e.g. {missing[0]}")
    return rows


def check_wds(cfg: TrainConfig) -> WdsSplit:
    """The train shards, checked: present, counted, at least one batch, a shard per process."""
    if not cfg.data_dir.is_dir():
        raise InputError(str(cfg.data_dir), "missing", "data folder not found (run `medvl export` first)")
    tr = wds_split(cfg.data_dir, "train")
    if tr is None:
        raise InputError(str(cfg.data_dir / "wds"), "no_shards",
                         "no train WebDataset shards (export with --formats wds, or train with --data-format csv)")
    need = cfg.batch_size * max(1, cfg.gpus)
    if tr.num_samples < need:
        raise InputError(tr.pattern, "too_few_rows",
                         f"{tr.num_samples} training pairs, fewer than one batch ({need}); lower --batch-size")
    if len(tr.shards) < max(1, cfg.gpus):
        raise InputError(tr.pattern, "too_few_shards",
                         f"{len(tr.shards)} train shards for {cfg.gpus} processes: each needs one "
                         "(export with a smaller --shard-size)")
    return tr


def samples_per_epoch(cfg: TrainConfig, n: int, workers: int) -> int:
    """Samples open_clip trains per epoch: csv drops the last partial batch; webdataset rounds
    up to whole batches per worker (it repeats a few samples)."""
    import math

    gbs = cfg.batch_size * max(1, cfg.gpus)
    if cfg.data_format == "csv":
        return (n // gbs) * gbs
    nw = max(1, workers)
    return math.ceil(math.ceil(n / gbs) / nw) * nw * gbs


def _record_settings(cfg: TrainConfig) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}


#: settings a checkpoint may be resumed under when they changed: more epochs, and what does not change the model
RESUME_ANYWAY = ("epochs", "workers", "threads", "log_every_n_steps")


def stale_checkpoints(cfg: TrainConfig, identity: dict[str, Any]) -> str | None:
    """Why cfg.out's checkpoints cannot be resumed for `cfg` (None: they can, or there are none): made with
    other settings (but RESUME_ANYWAY; from its medvl_train.json), on other data (`identity`, see
    data_identity; the manifest's sha256 for a record made before identities), or past cfg.epochs."""
    ckpt = latest_checkpoint(cfg.out)
    if ckpt is None:
        return None
    record = read_train_record(cfg.out)
    old, new = record.get("settings") or {}, _record_settings(cfg)
    changed = sorted(k for k in set(old) | set(new) if k not in RESUME_ANYWAY and old.get(k) != new.get(k))
    if changed:
        return "made with other settings: " + ", ".join(changed)
    data = record.get("data") or {}
    if "identity" in data:
        same = data["identity"] == identity
    else:  # a record made before data identities
        same = data.get("manifest_sha256") == identity.get("manifest.json")
    if not same:
        return "made on other data"
    if _checkpoint_epoch(ckpt) > cfg.epochs:
        return f"has {_checkpoint_epoch(ckpt)} epochs, more than {cfg.epochs}"
    return None


def train(cfg: TrainConfig, progress: ProgressFn = no_progress, resume: bool = True) -> TrainResult:
    """Run open_clip_train on cfg.data_dir; resume from cfg.out's latest checkpoint when it is one of this
    training (stale_checkpoints), else (or with resume=False) delete cfg.out's checkpoints and start over."""
    from medvl import __version__
    from medvl.runs import atomic_write_text, git_hash, tool_versions

    if cfg.data_format == "wds":
        shards = check_wds(cfg)
        n_rows = shards.num_samples
    else:
        shards = None
        n_rows = len(check_data(cfg))
    if cfg.model not in local_model_names():
        # a built-in open_clip name is fine too; check it without starting a subprocess
        known = register_models()
        if cfg.model not in known:
            raise MedvlError(f"unknown model '{cfg.model}': use one of {', '.join(local_model_names())} "
                             "or an open_clip model name")
    manifest, manifest_sha = load_data_manifest(cfg.data_dir)
    identity = train_data_identity(cfg)
    args = open_clip_args(cfg, n_train=n_rows)
    cmd = command(cfg, args)
    cfg.out.mkdir(parents=True, exist_ok=True)
    stale = stale_checkpoints(cfg, identity) if resume else "asked to start over"
    if stale:
        import shutil

        shutil.rmtree(cfg.out / "checkpoints", ignore_errors=True)
    start_ckpt = latest_checkpoint(cfg.out)
    start_epoch = _checkpoint_epoch(start_ckpt)

    record = {
        "stage": STAGE,
        "stage_version": STAGE_VERSION,
        "model": cfg.model,
        "settings": _record_settings(cfg),
        "open_clip_args": args,
        "command": cmd,
        "data": {"dir": str(cfg.data_dir), "format": cfg.data_format, "train_rows": n_rows,
                 "train_shards": shards.pattern if shards else None, "manifest": manifest,
                 "manifest_sha256": manifest_sha, "identity": identity},
        "versions": {"medvl": __version__, "git_hash": git_hash(), "python": sys.version.split()[0],
                     **tool_versions(TOOLS)},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "resumed_from": str(start_ckpt) if start_ckpt else None,
        "started_over": stale,  # why the checkpoints there were deleted (None: none, or resumed)
    }
    atomic_write_text(cfg.out / TRAIN_RECORD, json.dumps(record, indent=2, sort_keys=True))

    per_epoch = samples_per_epoch(cfg, n_rows, int(args[args.index("--workers") + 1]))
    steps_total = cfg.epochs * per_epoch
    progress(0, total=steps_total, note=f"epoch {start_epoch}/{cfg.epochs}")
    done_samples = start_epoch * per_epoch
    if done_samples:
        progress(min(done_samples, steps_total), note=f"resumed at epoch {start_epoch}")
    log_path = cfg.out / "train.stdout.log"
    t0 = time.time()
    trained = 0
    lines: list[str] = []
    with open(log_path, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, cwd=cfg.data_dir, env=offline_env(threads=cfg.threads), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        epoch_seen: dict[int, int] = {}
        first: tuple[float, int] | None = None
        last: tuple[float, int] | None = None
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            del lines[:-40]
            m = _TRAIN_LINE.search(line)
            if m:
                ep, n = int(m.group(1)), int(m.group(2))
                prev = epoch_seen.get(ep, 0)
                if n > prev:
                    epoch_seen[ep] = n
                    trained += n - prev
                    now = time.time()
                    if first is None:
                        first = (now, trained)
                    last = (now, trained)
                    progress(n - prev, note=f"epoch {ep + 1}/{cfg.epochs}")
        rc = proc.wait()
    seconds = time.time() - t0
    if rc != 0:
        tail = "".join(lines[-15:]).strip()
        raise MedvlError(f"open_clip_train failed (exit {rc}); log: {log_path}\n{tail}")
    ckpt = latest_checkpoint(cfg.out)
    if ckpt is None:
        raise MedvlError(f"open_clip_train wrote no checkpoint under {cfg.out / 'checkpoints'}; log: {log_path}")
    result = TrainResult(
        out=cfg.out, checkpoint=ckpt, epochs_done=_checkpoint_epoch(ckpt), trained_samples=trained,
        seconds=round(seconds, 3),
        samples_per_second=round(trained / seconds, 2) if trained and seconds > 0 else None,
        loop_samples_per_second=(round((last[1] - first[1]) / (last[0] - first[0]), 2)
                                 if first and last and last[0] > first[0] else None),
        resumed_from_epoch=start_epoch, command=cmd, log=log_path,
    )
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["result"] = result.to_dict()
    atomic_write_text(cfg.out / TRAIN_RECORD, json.dumps(record, indent=2, sort_keys=True))
    return result


def read_train_record(out: Path) -> dict:
    path = Path(out) / TRAIN_RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


# ---------------------------------------------------------------- the program open_clip runs in

def _entry(argv: list[str]) -> int:
    """Register medvl's models, then hand the arguments to open_clip_train unchanged."""
    register_models()
    from open_clip_train.main import main as open_clip_main

    rc = open_clip_main(argv)
    return rc if isinstance(rc, int) and rc else 0


if __name__ == "__main__":
    sys.exit(_entry(sys.argv[1:]))

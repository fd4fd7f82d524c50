"""Benchmark: batch.py on Meshy-size models (1M triangles, 2048^2 maps) from the local server.

    python3 scripts/bench_batch.py [--photos 10,30,100] [--blender 4.5.15] [--convert-jobs N] [--index]

For each batch size, in a fresh folder: N photos -> `scripts/batch.py` against an in-process local server
(`MeshyServer(triangles=1_000_000, texture_size=2048)`; photos differ, so does each base colour). Measures
the wall time and time per model, the peak memory of the whole process tree (the sum of the resident
memory of batch.py, the batch's Blender, its converters and the index writer, sampled every 0.1 s; the
server is not part of it), and the bytes the library folder takes on disk against the GLBs downloaded.
Prints JSON with the machine's load; not a timed test. Linux (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.meshy_server import MeshyServer, images, outputs  # noqa: E402

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"
KINDS = (("batch_blender.py", "batch Blender"), ("convert_child.py", "converter"),
         ("batch_library.py", "index writer"), ("batch.py", "batch.py"))
TARGET_PEAK_MB = 2048
TARGET_PEAK_GROWTH = 1.25  # 30 photos against 10
TARGET_DISK_RATIO = 1.6


class TreeMemory:
    """Samples the resident memory of a process and all its descendants (Linux /proc) on a thread."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid, self.interval = pid, interval
        self.peak_bytes = 0
        self.peak_by_kind: dict[str, int] = {}
        self.most_converters = 0
        self.converters_at_most: list[int] = []  # their pids, when there were most
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            total, kinds, converters = 0, {}, []
            tree = descendants(self.pid)
            cmdlines = {}
            for pid in tree:
                try:
                    cmdlines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    pass
            for pid, ppid in tree.items():
                try:
                    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                except (OSError, IndexError, ValueError):
                    continue  # ended meanwhile
                cmdline = cmdlines.get(pid, b"")
                if state in "ZX" or not cmdline or cmdline == cmdlines.get(ppid):
                    continue  # exited and not yet reaped, or forked and not yet exec'd (its parent's pages)
                cmdline = cmdline.decode("utf-8", "replace")
                total += rss
                kind = next((name for marker, name in KINDS if marker in cmdline), "other")
                kinds[kind] = kinds.get(kind, 0) + rss
                if kind == "converter":
                    converters.append(pid)
            self.peak_bytes = max(self.peak_bytes, total)
            for kind, rss in kinds.items():
                self.peak_by_kind[kind] = max(self.peak_by_kind.get(kind, 0), rss)
            if len(converters) > self.most_converters:
                self.most_converters, self.converters_at_most = len(converters), converters
            self._stop.wait(self.interval)


def descendants(root: int) -> dict[int, int]:
    """root and every process below it (by parent pid, whatever their session): pid -> parent pid."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = {root: 0}, [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out[child] = pid
            todo.append(child)
    return out


def folder_bytes(folder: Path) -> dict[str, int]:
    """Apparent bytes and allocated bytes of every file below folder, and the file count."""
    size = blocks = count = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            size, blocks, count = size + st.st_size, blocks + st.st_blocks * 512, count + 1
    return {"bytes": size, "allocated": blocks, "files": count}


def make_photos(folder: Path, count: int, size: int = 256) -> Path:
    """count different photos (noise in a colour of their own): each gets its own base colour."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    for i in range(count):
        base = bytes(rng.randrange(40, 220) for _ in range(3))
        row = bytes(b ^ (rng.getrandbits(4)) for b in base * size)
        (folder / f"photo{i:04d}.png").write_bytes(images.encode_png(size, size, row * size, 3))
    return folder


def run_batch(photos: Path, out: Path, server_url: str, *, blender: str, jobs: int = 4,
              convert_jobs: int | None = None, index: Path | None = None, extra: list[str] | None = None,
              timeout: float = 3600.0) -> dict:
    """Run batch.py as a user does, sampling its process tree; figures and its output."""
    cmd = [sys.executable, str(SCRIPTS / "batch.py"), str(photos), "--out", str(out), "--jobs", str(jobs),
           "--blender", blender, "--api-key", TEST_KEY, "--api-base", server_url, "--enable-pbr",
           "--ai-model", "meshy-6", *(extra or [])]
    if convert_jobs:
        cmd += ["--convert-jobs", str(convert_jobs)]
    if index is not None:
        cmd += ["--index", str(index)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeMemory(proc.pid) as memory:
        output, _ = proc.communicate(timeout=timeout)
    return {"exit": proc.returncode, "wall_s": round(time.monotonic() - t0, 1), "output": output,
            "peak_tree_mb": round(memory.peak_bytes / 2**20), "most_converters_at_once": memory.most_converters,
            "converter_pids_at_most": memory.converters_at_most,
            "peak_mb_by_kind": {k: round(v / 2**20) for k, v in sorted(memory.peak_by_kind.items())}}


def measure(count: int, args, work: Path) -> dict:
    folder = work / f"batch-{count}"
    shutil.rmtree(folder, ignore_errors=True)
    photos = make_photos(folder / "photos", count)
    out, index = folder / "library", (folder / "library.blend") if args.index else None
    with MeshyServer(task_seconds=args.task_seconds, triangles=args.triangles, texture_size=args.texture_size,
                     keepalive_seconds=1.0) as srv:
        load_before = os.getloadavg()
        figures = run_batch(photos, out, srv.url, blender=args.blender, jobs=args.jobs,
                            convert_jobs=args.convert_jobs, index=index)
        built = srv.stats()["built_bytes"]
        creates = srv.stats()["creates"]
    models = sum(1 for p in out.glob("*/model.blend"))
    library = folder_bytes(out)
    state = folder_bytes(out.with_name(out.name + ".meshy-batch"))
    glb = built.get("model.glb", 0)
    result = {
        "photos": count, "models": models, "creates": creates, "exit": figures["exit"],
        "wall_s": figures["wall_s"], "per_model_s": round(figures["wall_s"] / max(1, models), 2),
        "peak_tree_mb": figures["peak_tree_mb"], "peak_mb_by_kind": figures["peak_mb_by_kind"],
        "most_converters_at_once": figures["most_converters_at_once"],
        "glb_mb": round(glb / 1e6, 1), "downloaded_mb": round(sum(built.values()) / 1e6, 1),
        "library_mb": round(library["bytes"] / 1e6, 1), "library_allocated_mb": round(library["allocated"] / 1e6, 1),
        "state_mb": round(state["bytes"] / 1e6, 1), "index_kb": round(index.stat().st_size / 1e3) if index and
        index.exists() else None,
        "disk_over_glb": round(library["bytes"] / glb, 3) if glb else None,
        "blend1_files": len(list(folder.rglob("*.blend1"))), "glb_files_left": len(list(out.rglob("*.glb"))),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    if figures["exit"] != 0:
        result["output_tail"] = figures["output"][-2000:]
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default="10,30,100", help="batch sizes, comma-separated")
    ap.add_argument("--blender", default="4.5.15")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--convert-jobs", type=int, default=None, help="default: the preference's default")
    ap.add_argument("--triangles", type=int, default=outputs.MESHY_SIZE.triangles)
    ap.add_argument("--texture-size", type=int, default=outputs.MESHY_SIZE.texture_size)
    ap.add_argument("--task-seconds", type=float, default=2.0)
    ap.add_argument("--index", action="store_true", help="also write the index .blend")
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep each run's folder")
    args = ap.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="meshy-bench-batch-"))
    runs = []
    for count in (int(n) for n in args.photos.split(",")):
        runs.append(measure(count, args, work))
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # progress, one line a size
    by = {r["photos"]: r for r in runs}
    verdicts = {}
    if 10 in by and 30 in by:
        verdicts["peak_30_over_10"] = round(by[30]["peak_tree_mb"] / by[10]["peak_tree_mb"], 3)
        verdicts["peak_30_over_10_target"] = TARGET_PEAK_GROWTH
    for r in runs:
        verdicts[f"peak_{r['photos']}_within_{TARGET_PEAK_MB}_mb"] = r["peak_tree_mb"] <= TARGET_PEAK_MB
        ratio = r["disk_over_glb"]
        verdicts[f"disk_{r['photos']}_within_{TARGET_DISK_RATIO}x_glb"] = bool(ratio and ratio <= TARGET_DISK_RATIO)
    report = {
        "machine": {"cpus": os.cpu_count(), "load_at_end": [round(x, 2) for x in os.getloadavg()],
                    "python": sys.version.split()[0]},
        "settings": {"blender": args.blender, "jobs": args.jobs, "convert_jobs": args.convert_jobs or "default",
                     "triangles": args.triangles, "texture_size": args.texture_size,
                     "task_seconds": args.task_seconds, "index": args.index},
        "runs": runs, "verdicts": verdicts,
    }
    print(json.dumps(report, indent=2))
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

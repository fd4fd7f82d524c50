"""The Blender half of scripts/bench.py: runs inside the bpy module's Python, one measurement per process.

    .venvs/bpy-5.0.1/bin/python scripts/bench_blender.py MODE '{json args}'

Modes (each prints one line `BENCH-JSON {...}` with its figures):
  pump     section 1: 8 jobs against the local server (MESHY_API_BASE_URL), every pump.tick timed
  import   section 2: scripts/bench_import.measure_import_overhead on the 1M-triangle GLB
  install  section 5: install the zip (not enabled) into a persistent user folder
  enable   section 5: one fresh process: addon_enable, or import + register() by hand
  prepare  section 5: images.prepare_image on generated 4K / 8K images, prepare_file on a 4K PNG
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
MODULE = "bl_ext.user_default.meshy_blender"


def emit(result: dict) -> None:
    print("BENCH-JSON " + json.dumps(result), flush=True)


def start(user_dir: str | None = None):
    os.environ["BLENDER_USER_RESOURCES"] = user_dir or tempfile.mkdtemp(prefix="meshy-bench-user-")
    import bpy

    return bpy


def install(bpy, zip_file: str, enable: bool = True):
    result = bpy.ops.extensions.package_install_files(filepath=zip_file, repo="user_default",
                                                      enable_on_install=enable)
    if result != {"FINISHED"}:
        raise SystemExit(f"installing {zip_file} failed: {result}")
    bpy.context.preferences.system.use_online_access = True
    return importlib.import_module(MODULE)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


# --------------------------------------------------------------------------- 1. pump step


def mode_pump(bpy, args: dict) -> dict:
    install(bpy, args["zip"])
    api = importlib.import_module(MODULE + ".api")
    pump = importlib.import_module(MODULE + ".blender.pump")
    runtime = importlib.import_module(MODULE + ".blender.runtime")
    addon = importlib.import_module(MODULE + ".blender.addon")
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.system.use_online_access = True
    addon.prefs().max_concurrent = args["jobs"]  # all 8 stream and download at once
    eng = runtime.engine(bpy.context)

    # Instrument (outside the timed work as far as possible): the import inside a tick, the events drained.
    tick_imports: list[float] = []
    real_import = pump.import_job

    def timed_import(context, view, *, force=False):
        t0 = time.perf_counter()
        try:
            return real_import(context, view, force=force)
        finally:
            tick_imports.append(time.perf_counter() - t0)

    pump.import_job = timed_import
    drained: list[int] = []
    real_poll = eng.poll_events

    def counted_poll(*a, **kw):
        out = real_poll(*a, **kw)
        drained.append(len(out))
        return out

    eng.poll_events = counted_poll

    opts = dict(should_remesh=True, target_polycount=args["triangles"], enable_pbr=True)
    handles = [api.submit_image(path, label=f"bench{i}", **opts) for i, path in enumerate(args["images"])]
    interval = args.get("interval", pump.TIMER_INTERVAL)
    steps = []  # (seconds, import_seconds, events, downloading, streaming)
    deadline = time.monotonic() + args.get("timeout", 240)
    next_at = time.perf_counter()
    while time.monotonic() < deadline:
        tick_imports.clear()
        drained.clear()
        t0 = time.perf_counter()
        active = pump.tick(bpy.context)
        dt = time.perf_counter() - t0
        counts = eng.stats()
        steps.append((dt, sum(tick_imports), sum(drained), counts.get("downloading", 0),
                      counts.get("pending", 0) + counts.get("in_progress", 0)))
        if not active:
            break
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    states = sorted(h.state for h in handles)
    plain = [s[0] for s in steps if not s[1]]
    with_import = [s for s in steps if s[1]]
    busy = [s[0] for s in steps if not s[1] and (s[3] or s[4])]
    runtime.shutdown()
    ms = 1000.0
    return {
        "blender": bpy.app.version_string,
        "jobs": len(handles),
        "states": states,
        "interval_s": interval,
        "steps": len(steps),
        "steps_no_import": len(plain),
        "steps_while_jobs_active": len(busy),
        "steps_while_downloading": sum(1 for s in steps if not s[1] and s[3]),
        "max_downloading_at_once": max((s[3] for s in steps), default=0),
        "events_drained": sum(s[2] for s in steps),
        "max_events_in_one_step": max((s[2] for s in steps if not s[1]), default=0),
        "max_ms": round(max(plain) * ms, 3) if plain else None,
        "p99_ms": round(pct(plain, 99) * ms, 3) if plain else None,
        "p50_ms": round(pct(plain, 50) * ms, 4) if plain else None,
        "mean_ms": round(statistics.fmean(plain) * ms, 4) if plain else None,
        "slowest_steps": [{"ms": round(s[0] * ms, 3), "events": s[2], "downloading": s[3], "watching": s[4]}
                          for s in sorted((s for s in steps if not s[1]), reverse=True)[:5]],
        "import_steps": len(with_import),
        "import_ms": [round(s[1] * ms, 1) for s in with_import],
        "import_step_overhead_ms": [round((s[0] - s[1]) * ms, 3) for s in with_import],
    }


# --------------------------------------------------------------------------- 2. import


def mode_import(bpy, args: dict) -> dict:
    install(bpy, args["zip"])
    sys.path.insert(0, str(SCRIPTS))
    import bench_import

    glb = args.get("glb") or str(bench_import.build_big_glb(Path(args["glb_cache"])))
    return bench_import.measure_import_overhead(glb, runs=args.get("runs", 3))


# --------------------------------------------------------------------------- 5. enable


def mode_install(bpy, args: dict) -> dict:
    install(bpy, args["zip"], enable=False)
    return {"blender": bpy.app.version_string, "installed": True}


def mode_enable(args: dict) -> dict:
    """One fresh process: the add-on is installed (not enabled) in args['user']; enable it and time it."""
    t0 = time.perf_counter()
    bpy = start(args["user"])
    bpy_s = time.perf_counter() - t0
    if MODULE in sys.modules or MODULE in bpy.context.preferences.addons:
        raise SystemExit("the add-on is already enabled at start-up: the measurement would be empty")
    before = set(sys.modules)
    if args["how"] == "addon_enable":
        t0 = time.perf_counter()
        result = bpy.ops.preferences.addon_enable(module=MODULE)
        total = time.perf_counter() - t0
        if result != {"FINISHED"} or MODULE not in bpy.context.preferences.addons:
            raise SystemExit(f"addon_enable failed: {result}")
        out = {"enable_s": total}
    else:  # what is ours in that: importing the package and registering, split per module
        t0 = time.perf_counter()
        mod = importlib.import_module(MODULE)
        glue = importlib.import_module(MODULE + ".blender")  # register() imports these lazily: time it apart
        t1 = time.perf_counter()
        per_module = {}
        for module in glue._MODULES:  # exactly what register() does (meshy_blender.blender.register)
            m0 = time.perf_counter()
            module.register()
            per_module[module.__name__.rpartition(".")[2]] = time.perf_counter() - m0
        t2 = time.perf_counter()
        out = {"import_s": t1 - t0, "register_s": t2 - t1, "ours_s": t2 - t0, "register_by_module_s": per_module}
        mod.unregister()
    new = sorted(set(sys.modules) - before)
    out.update(blender=bpy.app.version_string, import_bpy_s=bpy_s,
               new_modules=len(new), foreign_modules=[m for m in new if not m.startswith(MODULE)])
    return out


# --------------------------------------------------------------------------- 5. prepare images


def _timed(fn, runs: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def mode_prepare(bpy, args: dict) -> dict:
    install(bpy, args["zip"])
    images = importlib.import_module(MODULE + ".blender.images")
    addon = importlib.import_module(MODULE + ".blender.addon")
    max_size = addon.prefs().max_image_size  # what api.submit_image uses
    out = {"blender": bpy.app.version_string, "max_size": max_size, "cases": []}
    for side, runs in ((4096, args.get("runs", 3)), (8192, args.get("runs_8k", 2))):
        img = bpy.data.images.new(f"generated_{side}", side, side)
        img.generated_type = "COLOR_GRID"
        median, times, prep = _timed(lambda img=img: images.prepare_image(img, max_size), runs)
        out["cases"].append({"case": f"generated {side}x{side} (Image datablock)", "median_s": median,
                             "runs_s": times, "mime": prep.mime, "bytes": len(prep.data),
                             "out_px": [prep.width, prep.height], "note": prep.note})
        bpy.data.images.remove(img)
    png = Path(args["png"])
    median, times, prep = _timed(lambda: images.prepare_file(str(png), max_size), args.get("runs", 3))
    out["cases"].append({"case": "4096x4096 PNG file (passthrough)", "median_s": median, "runs_s": times,
                         "mime": prep.mime, "bytes": len(prep.data), "out_px": [prep.width, prep.height],
                         "note": prep.note or ("sent as is" if not prep.converted else "")})
    return out


def main() -> int:
    mode, args = sys.argv[1], json.loads(sys.argv[2])
    if mode == "enable":
        emit(mode_enable(args))
        return 0
    bpy = start(args.get("user"))
    runner = {"pump": mode_pump, "import": mode_import, "install": mode_install, "prepare": mode_prepare}[mode]
    emit(runner(bpy, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

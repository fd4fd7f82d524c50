"""Benchmark: the converter (a background Blender) and the append, against the bare glTF importer.

Runs inside the bpy module, with the built add-on installed as a real extension:

    .venvs/bpy-4.5.15/bin/python scripts/bench_convert.py [--glb PATH] [--runs 3] [--landings 5] [--cold]

Without --glb it uses the 1M-triangle GLB with three 2048x2048 maps that bench_import.py builds
(cached in build/bench/). Measures, on this machine:
- the bare glTF import on the main thread (what the main thread spent per model until now),
- the conversion's wall time and the converter's peak memory (ru_maxrss of the child),
- the append of the converted model.blend on the main thread (what the main thread spends now),
- jobs landing through the engine and the pump (measure_landing, `--landings` times): the longest
  pump step of each (median and max over the landings; wall time, and the main thread's CPU time,
  which a machine busy with other work does not inflate), the steps over 5 ms, the time from
  "downloaded" to "in the scene", conversion included. `--cold` lands one job first, before
  anything else has run in this process: Blender then reads into memory the process never had
  (page faults), which the landings after the glTF imports do not pay.
Prints JSON; not a timed test.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))

import _headless  # noqa: E402
import bench_import  # noqa: E402

import build  # noqa: E402


def _fresh_scene(bpy) -> None:
    bpy.ops.wm.read_homefile(use_empty=True)
    gc.collect()


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def measure(glb: str, runs: int) -> dict:
    import bpy

    converter = importlib.import_module(_headless.MODULE + ".jobs.converter")
    append = importlib.import_module(_headless.MODULE + ".blender.append")
    folder = Path(tempfile.mkdtemp(prefix="meshy-bench-convert-")) / "job"
    folder.mkdir()
    shutil.copy2(glb, folder / "model.glb")
    launcher = converter.Launcher(blender=bpy.app.binary_path, python=sys.executable)
    request = converter.ConvertRequest(folder=str(folder), label="Bench", tags={"meshy_job_id": "bench"})

    bare = []
    for i in range(runs + 1):  # the first run warms caches and is dropped
        _fresh_scene(bpy)
        t0 = time.perf_counter()
        assert bpy.ops.import_scene.gltf(filepath=str(folder / "model.glb")) == {"FINISHED"}
        if i:
            bare.append(time.perf_counter() - t0)
    _fresh_scene(bpy)

    wall, memory, child_seconds = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = converter.Conversion(launcher, request).run()
        wall.append(time.perf_counter() - t0)
        child_seconds.append(result.seconds)
        memory.append(result.peak_memory_mb or 0.0)

    bare_load = []
    for i in range(runs + 1):  # libraries.load alone: what append_model adds on top of it
        _fresh_scene(bpy)
        t0 = time.perf_counter()
        with bpy.data.libraries.load(result.blend) as (_source, target):
            target.collections = ["Bench"]
        bpy.context.scene.collection.children.link(target.collections[0])
        if i:
            bare_load.append(time.perf_counter() - t0)

    appended = []
    for i in range(runs + 1):
        _fresh_scene(bpy)
        t0 = time.perf_counter()
        objects = append.append_model(bpy.context, str(folder))
        if i:
            appended.append(time.perf_counter() - t0)
    meshes = {o.data for o in objects if o.type == "MESH"}
    for mesh in meshes:
        mesh.calc_loop_triangles()
    triangles = sum(len(mesh.loop_triangles) for mesh in meshes)
    blend_mb = round(os.path.getsize(result.blend) / 1e6, 1)
    _fresh_scene(bpy)
    shutil.rmtree(folder.parent, ignore_errors=True)
    return {
        "blender": bpy.app.version_string,
        "file": os.path.basename(glb),
        "file_mb": round(os.path.getsize(glb) / 1e6, 1),
        "blend_mb": blend_mb,
        "triangles": triangles,
        "runs": runs,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "bare_gltf_import_s": _median(bare),
        "conversion_wall_s": _median(wall),
        "converter_peak_mb": round(max(memory), 1),
        "bare_libraries_load_s": _median(bare_load),
        "append_s": _median(appended),
        "append_vs_bare_ratio": round(statistics.median(appended) / statistics.median(bare), 4),
        "bare_all_s": [round(t, 4) for t in bare],
        "conversion_all_s": [round(t, 4) for t in wall],
        "append_all_s": [round(t, 4) for t in appended],
    }


def measure_landing(glb: str, timeout: float = 600.0) -> dict:
    """A downloaded job (journal record "converting", the GLB in its folder) carried on by the engine the
    add-on creates, the pump stepped as its modal timer would (every 10 ms): the longest single step on
    the main thread (the append included), and the time from "downloaded" to "in the scene"."""
    import bpy

    runtime = importlib.import_module(_headless.MODULE + ".blender.runtime")
    pump = importlib.import_module(_headless.MODULE + ".blender.pump")
    journal = importlib.import_module(_headless.MODULE + ".jobs.journal")
    _fresh_scene(bpy)
    runtime.shutdown()
    library = Path(tempfile.mkdtemp(prefix="meshy-bench-landing-"))
    folder = library / "Bench-landing"
    folder.mkdir()
    shutil.copy2(glb, folder / "model.glb")
    now = time.time()
    rec = journal.JobRecord(id="bench" + os.urandom(8).hex(), kind="image-to-3d", label="Bench landing",
                            task_id="bench-task", folder=str(folder), files={"model": "model.glb"},
                            target={"session": runtime.session_token(), "at_cursor": True},
                            created_at=now, updated_at=now)
    rec.set_state("converting")
    journal.Journal(runtime.user_folder("journal")).write(rec)
    t0 = time.perf_counter()
    eng = runtime.engine(bpy.context)  # recovers the record: "converting" -> a converter starts
    steps, cpu = [], []
    while True:
        s0, c0 = time.perf_counter(), time.thread_time()
        pump.tick(bpy.context)
        steps.append(time.perf_counter() - s0)
        cpu.append(time.thread_time() - c0)
        view = eng.get(rec.id)
        if view.state in ("imported", "error"):
            break
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"still {view.state} after {timeout} s")
        time.sleep(0.01)
    total = time.perf_counter() - t0
    assert view.state == "imported", view.error
    meshes = {o.data for o in bpy.data.objects if o.type == "MESH" and o.get("meshy_job_id") == rec.id}
    for mesh in meshes:
        mesh.calc_loop_triangles()
    out = {"triangles": sum(len(m.loop_triangles) for m in meshes), "pump_steps": len(steps),
           "longest_pump_step_s": round(max(steps), 4), "downloaded_to_scene_s": round(total, 3),
           "steps_over_5ms_s": [round(s, 4) for s in steps if s > 0.005],
           "longest_pump_step_cpu_s": round(max(cpu), 4)}  # the main thread's own time: not inflated by a busy machine
    runtime.shutdown()
    _fresh_scene(bpy)
    shutil.rmtree(library, ignore_errors=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glb", help="GLB to convert (default: a generated 1M-triangle model, three 2048^2 maps)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--landings", type=int, default=5, help="jobs landed through the pump, one after another")
    parser.add_argument("--cold", action="store_true", help="land one job first, in a process that read nothing yet")
    args = parser.parse_args(argv)
    glb = args.glb or str(bench_import.build_big_glb(ROOT / "build" / "bench" / "import_1m_2048.glb"))
    _headless.start(str(build.build(quiet=True)))
    cold = measure_landing(glb) if args.cold else None
    figures = measure(glb, args.runs)
    landings = [measure_landing(glb) for _ in range(args.landings)]
    longest = [landing["longest_pump_step_s"] for landing in landings]
    figures["landing"] = {
        "landings": len(landings),
        "longest_pump_step_median_s": round(statistics.median(longest), 4),
        "longest_pump_step_max_s": round(max(longest), 4),
        "longest_pump_step_cpu_median_s": round(statistics.median(x["longest_pump_step_cpu_s"] for x in landings), 4),
        "longest_pump_step_cpu_max_s": round(max(x["longest_pump_step_cpu_s"] for x in landings), 4),
        "longest_step_vs_bare_import_ratio": round(statistics.median(longest) / figures["bare_gltf_import_s"], 4),
        "downloaded_to_scene_median_s": round(statistics.median(x["downloaded_to_scene_s"] for x in landings), 3),
        "each": landings,
    }
    if cold is not None:
        figures["landing"]["cold_first_landing"] = cold
    figures["load_average_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    print(json.dumps(figures, indent=2), flush=True)
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown (bpy 4.2 can crash there)


if __name__ == "__main__":
    sys.exit(main())

"""scripts/bench.py sections 9-10: the model library at scale (issue 12's targets), each measured by its own script:

  9   scripts/bench_batch.py: batch.py on Meshy-size models (1M triangles, three 2048² maps) from the local
      server, 10 / 30 (/ 100) photos: wall time, time per model, the process tree's peak memory, disk
  10  scripts/bench_assets.py (windowed Blender 4.3, the GUI tier, under /tmp/gui-tier.lock): an Asset
      Browser opened on a "Meshy" library of 100 Meshy-size models, until its previews show

The scripts are parsed, not changed; `*_figures(raw)` turn their JSON into figures.
"""

from __future__ import annotations

import subprocess
import sys

from bench_common import ROOT, SCRIPTS, Figure, log, parse_json_output

GUI_LOCK = "/tmp/gui-tier.lock"
SECTIONS = {
    9: "Batch on Meshy-size models: time, peak memory of the process tree, disk (10 / 30 / 100 photos)",
    10: "The Asset Browser on a library of 100 Meshy-size models: time until the previews show (GUI tier)",
}
BEFORE = {10: (2000, 535), 20: (3100, 1150)}  # photos -> (peak MB, disk MB): one library.blend, before 0.2


def _run(cmd: list[str], timeout: float) -> dict:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    found = parse_json_output(proc.stdout)
    if found is None:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[:3])} failed (exit {proc.returncode}):\n{tail}")
    return found


# --------------------------------------------------------------------------- 9. batch


def batch_figures(r: dict) -> list[Figure]:
    runs = {run["photos"]: run for run in r.get("runs", [])}
    out = []
    for photos, run in sorted(runs.items()):
        before = BEFORE.get(photos)
        then = (f"; before (one library.blend): {before[0]} MB peak, {before[1]} MB on disk" if before else
                "; before: 30 photos crashed" if photos >= 30 else "")
        load = run.get("load_before")
        note = (f"{run.get('models')} models, {run.get('creates')} creates, exit {run.get('exit')}; batch Blender / "
                f"converters / index writer at most {run.get('peak_mb_by_kind')} MB; at most "
                f"{run.get('most_converters_at_once')} converters at once; load average before {load}{then}")
        out.append(Figure(9, f"batch of {photos} photos: peak memory of the process tree", run.get("peak_tree_mb"),
                          "MB", "<=", 2048, note, digits=0))
        out.append(Figure(9, f"batch of {photos} photos: library on disk / GLBs downloaded", run.get("disk_over_glb"),
                          "x", "<=", 1.6, f"library {run.get('library_mb')} MB, GLBs {run.get('glb_mb')} MB, "
                          f".blend1 files {run.get('blend1_files')}, GLBs left {run.get('glb_files_left')}"))
        out.append(Figure(9, f"batch of {photos} photos: wall time, per model", run.get("per_model_s"), "s",
                          detail=f"{run.get('wall_s')} s in all (tasks take 2 s on the local server)", digits=1))
    if 10 in runs and 30 in runs and runs[10].get("peak_tree_mb"):
        out.append(Figure(9, "batch peak memory: 30 photos over 10", round(runs[30]["peak_tree_mb"] /
                          runs[10]["peak_tree_mb"], 3), "x", "<=", 1.25, "the batch's Blender holds no model"))
    return out


def section9(ctx: dict, figures: list, raw: dict, methods: dict, photos: str = "10,30") -> None:
    log(f"9. batch of {photos} photos, Meshy-size models")
    r = raw["9_batch"] = _run([sys.executable, str(SCRIPTS / "bench_batch.py"), "--photos", photos, "--index"],
                              timeout=4 * 3600)
    figures += batch_figures(r)
    methods[9] = (
        f"`scripts/bench_batch.py --photos {photos} --index`: for each size, that many different photos -> "
        "`scripts/batch.py DIR --out LIBRARY --index LIBRARY.blend` (Blender 4.5.15 module, 4 jobs, the default 2 "
        "converters) against an in-process local server answering like Meshy's default output "
        "(`MeshyServer(triangles=1_000_000, texture_size=2048)`: ~45 MB GLBs, tasks of 2 s). The resident memory "
        "of batch.py's whole process tree (batch Blender, converters, index writer) is summed every 0.1 s; disk is "
        "the library folder's bytes against the GLBs the server sent. A 100-photo run: `--photos 100`.")


# --------------------------------------------------------------------------- 10. the Asset Browser


def asset_browser_figures(r: dict) -> list[Figure]:
    bench = r.get("asset_browser", {})
    lib = r.get("library", {})
    shown = bench.get("all_visible_previews_s") or [None, None]
    first = bench.get("first_preview_s") or [None, None]
    detail = (f"{bench.get('visible_tiles_with_preview')} visible tiles with their preview, of {bench.get('models')} "
              f"models; the first preview between {first[0]} and {first[1]} s; screen grabs of "
              f"{bench.get('grab_seconds')} s bound each figure; library {lib}")
    return [Figure(10, f"Asset Browser on 100 models: every visible preview shown, Blender {bench.get('blender')}",
                   shown[1], "s", detail=detail, digits=2)]


def section10(ctx: dict, figures: list, raw: dict, methods: dict) -> None:
    if sys.platform != "linux":
        raise RuntimeError("the GUI tier's harness needs Linux (tests/gui/README.md)")
    log(f"10. Asset Browser on 100 models (waits for {GUI_LOCK})")
    r = raw["10_asset_browser"] = _run(["flock", GUI_LOCK, sys.executable, str(SCRIPTS / "bench_assets.py")],
                                       timeout=3600)
    figures += asset_browser_figures(r)
    methods[10] = (
        "`scripts/bench_assets.py`: the 1M-triangle GLB with three 2048² maps converted once by the add-on's "
        "converter, its folder copied into 100 job folders of one library with their catalog file; the windowed "
        "Blender 4.3 of the GUI tier with the add-on, its Asset Libraries entry added by `api.add_asset_library()`, "
        "a 3D Viewport turned into an Asset Browser on \"Meshy\"; screen grabs on another thread count the tiles "
        "that show a preview. The figure is the end of the first grab that shows every visible tile's preview "
        "(the disk cache is warm: the files were just written).")

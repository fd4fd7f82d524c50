"""Rebuild Library in the windowed Blender: a version 0.1 library folder becomes a model.blend asset
through this Blender's own binary, the Model Library panel follows the run without the job pump.

Runs inside the windowed Blender (see gui_lib), against the local server (task ~0.5 s). Steps:
  1. a job is submitted through the API and lands (the modal pump follows it); its folder is then made
     exactly what version 0.1 left (model.blend, its result JSON and convert.log removed), and copied
     under another name as a folder no journal record names;
  2. the 3D Viewport's sidebar on the Meshy tab; Rebuild Library invoked in the window's context;
  3. while the rebuild runs no job is active (the modal pump is idle), yet the Model Library panel is
     drawn again and again (its own redraw timer, the sidebar only: the 300k-triangle model in the
     viewport is not redrawn in software each time); screenshot of the progress;
  4. both folders end with a complete model.blend, converted by this Blender's own binary; the scene
     is as it was; the job list's Show Asset copies the job's model.blend path; screenshot.
"""

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g

PANEL = "MESHY_PT_v3d_library"


def scenario():
    yield 0.5
    g.set_online(True)
    private = os.path.join(g.WORK, "rebuild-library")
    shutil.rmtree(private, ignore_errors=True)  # only this scenario's folders: the run counts them
    library = Path(g.use_library(private))
    g.count_draws(PANEL)
    g.count_draws("MESHY_PT_v3d_jobs")
    api, pump, converter = g.addon("api"), g.addon("blender.pump"), g.addon("jobs.converter")
    photo = g.save_png(g.make_image("rebuild_photo"), os.path.join(g.WORK, "rebuild_photo.png"))
    job = api.submit_image(photo, target_polycount=300000, should_remesh=True)  # conversions of a few seconds
    g.addon_prefs().max_conversions = 1  # one after the other: a run long enough to watch
    yield from g.wait_until(lambda: job.state in ("imported", "failed", "error", "unknown"), 120, "the job to land")
    g.require("job_landed", job.state == "imported", f"{job.state}: {job.view.error}")
    folder = Path(job.view.folder)
    for name in ("model.blend", "model.blend.json", "convert.log"):
        (folder / name).unlink()
    orphan = library / "copied photo-0a0b0c0d"
    shutil.copytree(folder, orphan)
    g.check("v01_layout", {p.name for p in folder.iterdir() if p.is_file()} <= {
        "model.glb", "thumbnail.png", "input_0.png"}, sorted(p.name for p in folder.iterdir()))
    scene = sorted((o.name, tuple(o.location)) for o in bpy.data.objects)
    yield from g.wait_until(lambda: not pump._running.get("pump"), 10, "the pump to stop once idle")

    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    yield from g.open_sidebar_tab(win, v3d, "Meshy")
    with bpy.context.temp_override(window=win):
        g.check("operator_started", bpy.ops.meshy.rebuild_library() == {"FINISHED"})
    run = g.engine().rebuild_status()
    g.require("run_started", run is not None)
    g.check("redraw_timer", bpy.app.timers.is_registered(g.addon("blender.rebuild_ops")._redraw))
    t0 = time.monotonic()
    yield from g.wait_until(lambda: run.progress().running, 60, "a converter to start")
    g.park_pointer()
    drawn = g.DRAWS[PANEL]
    # Nothing else happens meanwhile: only the rebuild's timer can make Blender redraw the panel (and only
    # the sidebar: were it to redraw the viewport, the 300k-triangle model drawn in software would stall
    # Blender each time). Waited for, not timed: this machine's load delays timers by seconds.
    yield from g.wait_until(lambda: g.DRAWS[PANEL] - drawn >= 3 or run.done, 120, "redraws or the end")
    g.check("panel_redrawn_during_rebuild", g.DRAWS[PANEL] - drawn >= 3,
            f"{g.DRAWS[PANEL] - drawn} draws while converting; finished: {run.done}")
    g.screenshot("rebuild_progress", g.x11_rect(win, v3d))
    g.check("pump_idle_during_rebuild", not pump._running.get("pump") and not g.engine().has_active())
    yield from g.wait_until(lambda: run.done, 240, "the rebuild to finish", interval=0.25)
    g.data("rebuild_seconds", round(time.monotonic() - t0, 1))
    p = run.progress()
    g.data("progress", {"total": p.total, "converted": p.converted, "failed": [f.reason for f in p.failed]})
    g.check("both_converted", (p.total, p.converted, p.failed) == (2, 2, ()), str(p))
    for name, f in (("job_folder", folder), ("copied_folder", orphan)):
        try:
            info = converter.finished_blend(f)
        except converter.BlendNotReady as exc:
            info = {"error": exc.message}
        g.check(f"{name}_has_model_blend", "collection" in info, str(info))
    launcher = g.engine().settings.converter
    g.check("converted_by_this_blender", launcher.blender == bpy.app.binary_path != "", str(launcher))
    g.check("scene_unchanged", sorted((o.name, tuple(o.location)) for o in bpy.data.objects) == scene)
    with bpy.context.temp_override(window=win):
        g.check("show_asset", bpy.ops.meshy.reveal_asset(job_id=job.id) == {"FINISHED"})
    g.check("asset_path_copied", bpy.context.window_manager.clipboard == str(folder / "model.blend"),
            bpy.context.window_manager.clipboard)
    g.redraw_all()
    yield 0.8
    g.screenshot("rebuild_done", g.x11_rect(win, v3d))


g.run("rebuild", scenario, deadline=420.0)

"""File > Open while a job runs: the pump comes back, the model goes into its own file, exactly once.

Runs inside the windowed Blender (see gui_lib), against the local server (task ~8 s). Steps:
  1. B.blend is saved (the file opened later), then A.blend (with a marker object); a job is submitted
     from A with the operator in the 3D Viewport's context;
  2. while it runs, B.blend is opened (wm.open_mainfile, as File > Open does): the modal pump ended with
     the old file and must be running again within ~2 s (load_post handler);
  3. the job finishes while B is open: it becomes `ready` and is NOT imported into B (it belongs to A);
  4. A.blend is opened again: the model is imported there, once (one collection of objects tagged with
     the job); A is saved and opened once more: still exactly one.
"""

import os
import sys
import time

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g

A = os.path.join(g.WORK, "A.blend")
B = os.path.join(g.WORK, "B.blend")


def open_file(path):
    win = g.main_window()
    with bpy.context.temp_override(window=win):
        r = bpy.ops.wm.open_mainfile(filepath=path)
    g.log(f"opened {os.path.basename(path)} -> {r}")
    return r


def tagged(job_id):
    objs = g.job_objects(job_id)
    colls = sorted({c.name for o in objs for c in o.users_collection})
    return objs, colls


def scenario():
    yield 0.5
    g.set_online(True)
    g.use_library()
    pump = g.addon("blender.pump")
    win = g.main_window()
    with bpy.context.temp_override(window=win):
        bpy.ops.wm.save_as_mainfile(filepath=B)
    marker = bpy.data.objects.new("File A marker", None)
    bpy.context.scene.collection.objects.link(marker)
    with bpy.context.temp_override(window=win):
        bpy.ops.wm.save_as_mainfile(filepath=A)
    g.check("a_saved", bpy.data.filepath == A, bpy.data.filepath)

    path = g.save_png(g.make_image("lamp_src", 256, 256, hue=0.15), os.path.join(g.WORK, "lamp_photo.png"))
    v3d = g.find_area(win, "VIEW_3D")
    ui = yield from g.open_sidebar_tab(win, v3d, "Meshy")
    bpy.context.scene.meshy.image = bpy.data.images.load(path)  # picked in the panel's image field
    with bpy.context.temp_override(window=win, area=v3d, region=ui):
        r = bpy.ops.meshy.image_to_3d("INVOKE_DEFAULT")
    g.require("submitted", r == {"FINISHED"}, r)
    job_id = g.job_views()[0].id
    eng = g.engine()
    g.check("job_belongs_to_a", eng.get(job_id).blend_file == A, eng.get(job_id).blend_file)
    yield from g.wait_until(lambda: eng.get(job_id).state == "in_progress", 10, "the job to be generating")
    g.check("pump_running_before_open", pump.is_running())
    g.data("progress_before_open", eng.get(job_id).progress)

    # -- File > Open B while the job runs
    open_file(B)
    t_open = time.monotonic()
    yield 0.05
    g.check("b_open", bpy.data.filepath == B, bpy.data.filepath)
    waited = yield from g.wait_until(pump.is_running, 5, "the pump to restart after File > Open", interval=0.05)
    g.check("pump_restarted_after_open", waited <= 2.0 and time.monotonic() - t_open <= 2.5,
            f"pump running again {time.monotonic() - t_open:.2f} s after File > Open")
    g.check("job_still_active_after_open", eng.get(job_id).active, eng.get(job_id).state)

    yield from g.wait_until(lambda: eng.get(job_id).state not in ("pending", "in_progress", "queued", "succeeded",
                                                                  "downloading", "converting", "submitting",
                                                                  "preparing"),
                            40, "the job to finish while B is open", interval=0.2)
    yield 1.0  # a few more pump steps: it must still not import into B
    view = eng.get(job_id)
    g.check("job_ready_in_b", view.state == "ready", f"{view.state}: {view.phase} {view.error}")
    objs, _ = tagged(job_id)
    g.check("not_imported_into_b", not objs and bpy.data.filepath == B, [o.name for o in objs])
    v3d = g.find_area(g.main_window(), "VIEW_3D")
    yield from g.open_sidebar_tab(g.main_window(), v3d, "Meshy")
    g.park_pointer()
    yield 0.8
    g.screenshot("ready_in_b", g.x11_rect(g.main_window(), v3d))

    # -- back to A: imported there, once
    open_file(A)
    yield from g.wait_until(lambda: eng.get(job_id).state == "imported", 5, "the import into A", interval=0.1)
    objs, colls = tagged(job_id)
    g.check("a_open", bpy.data.filepath == A and "File A marker" in bpy.data.objects, bpy.data.filepath)
    g.check("imported_into_a_once", objs and len(colls) == 1, f"{len(objs)} objects in {colls}")
    count = len(objs)
    yield 1.0
    objs, colls = tagged(job_id)
    g.check("no_second_import_while_open", len(objs) == count and len(colls) == 1, f"{len(objs)} in {colls}")
    with bpy.context.temp_override(window=g.main_window()):
        bpy.ops.wm.save_mainfile()
    open_file(A)
    yield 1.5  # the load_post resume timer runs after 0.5 s
    objs, colls = tagged(job_id)
    g.check("still_once_after_save_and_reopen", len(objs) == count and len(colls) == 1,
            f"{len(objs)} objects in {colls}")
    g.check("job_state_imported", eng.get(job_id).state == "imported", eng.get(job_id).state)
    v3d = g.find_area(g.main_window(), "VIEW_3D")
    yield from g.open_sidebar_tab(g.main_window(), v3d, "Meshy")
    g.park_pointer()
    yield 0.8
    g.screenshot("imported_in_a", g.x11_rect(g.main_window(), v3d))


g.run("reload", scenario)

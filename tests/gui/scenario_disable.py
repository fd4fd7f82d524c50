"""Disabling the add-on while a job runs, then enabling it again: Blender keeps running, nothing is lost.

Runs inside the windowed Blender (see gui_lib). Steps:
  1. submit a job from the 3D Viewport panel; the modal pump runs on real TIMER events;
  2. disable the add-on in the middle of the job (as a user would in Preferences): the pump's modal
     operator and timers go away with it, Blender keeps drawing and handling events;
  3. enable it again: the journal brings the job back, the pump starts again, the model is imported once.
"""

import os
import sys

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g

MODULE = "bl_ext.user_default.meshy_blender"


def scenario():
    yield 0.5
    g.set_online(True)
    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    ui = yield from g.open_sidebar_tab(win, v3d, "Meshy")
    photo = g.make_image("disable_photo", 256, 256, hue=0.3)
    bpy.context.scene.meshy.image = photo
    with bpy.context.temp_override(window=win, area=v3d, region=ui):
        result = bpy.ops.meshy.image_to_3d("INVOKE_DEFAULT")
    g.require("submitted", result == {"FINISHED"}, str(result))
    job_id = g.job_views()[0].id
    yield from g.wait_until(lambda: g.addon("blender.pump").is_running(), 5.0, "the pump to run")
    yield 1.5
    state_before = g.engine().get(job_id).state
    g.check("job_running_before_disable", state_before in {"queued", "submitting", "pending", "in_progress"},
            state_before)

    bpy.ops.preferences.addon_disable(module=MODULE)
    g.check("disabled", MODULE not in bpy.context.preferences.addons)
    g.mouse_to(400, 400)
    yield 1.0
    g.mouse_to(500, 420)  # events keep flowing to Blender with the modal operator's class gone
    yield 1.0
    g.check("blender_alive_after_disable", True, "timers still fire after disabling")

    bpy.ops.preferences.addon_enable(module=MODULE)
    g.check("enabled_again", MODULE in bpy.context.preferences.addons)
    yield from g.wait_until(lambda: g.engine() is not None and g.engine().get(job_id) is not None, 10.0,
                            "the job to come back from the journal")
    yield from g.wait_until(lambda: g.job_objects(job_id), 60.0, "the model to be imported")
    objects = g.job_objects(job_id)
    collections = {c.name for o in objects for c in o.users_collection}
    g.check("imported_once_after_reenable", len(collections) == 1, f"collections {sorted(collections)}")
    g.screenshot("after_reenable")


g.run("disable", scenario)

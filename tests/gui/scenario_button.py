"""A user's own button in the 3D Viewport whose operator carries a filepath -> clicked -> the model lands.

Issue 10, defect 1: poll() cannot see operator properties, so a button drawn as
`layout.operator("meshy.image_to_3d").filepath = path` in a 3D Viewport with no image picked in the
Meshy panel must still be enabled and work. Runs inside the windowed Blender (see gui_lib). Steps:
  1. no image anywhere in Blender; a photo only on disk; the Meshy tab's own Generate button is
     greyed with the reason drawn (the panel's draw-time check);
  2. a panel of the user's own ("Studio" tab of the 3D Viewport sidebar) draws one button whose
     operator carries the photo's filepath; the operator's poll() in that context is True;
  3. the button is clicked with xdotool (found by its pixels; no fallback: the click is the test);
  4. one job for the photo, followed by the modal pump, the model imported into its own collection,
     its main object named after the photo.
"""

import hashlib
import os
import sys

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g

PHOTO = "chair"


def scenario():
    yield 0.5
    g.set_online(True)
    g.use_library()
    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    bpy.data.objects.remove(bpy.data.objects["Cube"])
    src = g.make_image("chair_src", 384, 384, hue=0.12)
    path = g.save_png(src, os.path.join(g.WORK, f"{PHOTO}.png"))
    bpy.data.images.remove(src)
    with open(path, "rb") as f:
        g.data("photo_sha256", hashlib.sha256(f.read()).hexdigest())
    s = bpy.context.scene.meshy
    s.source, s.image = "IMAGE", None
    g.check("no_image_picked", s.image is None, "the Meshy panel has no image to send")

    # -- 1. the Meshy tab: its own button greyed, the reason drawn
    ui_mod = g.addon("blender.ui")
    meshy_ui = yield from g.open_sidebar_tab(win, v3d, "Meshy")
    with bpy.context.temp_override(window=win, area=v3d, region=meshy_ui):
        reason = ui_mod.missing_image(bpy.context)
    g.check("panel_button_greyed_with_reason", reason.startswith("No image"), reason)
    g.park_pointer()
    yield 1.0
    g.screenshot("meshy_tab_without_image", g.x11_rect(win, v3d))

    # -- 2. the user's own button, carrying a filepath
    class STUDIO_PT_quick_model(bpy.types.Panel):
        bl_idname = "STUDIO_PT_quick_model"
        bl_label = "Quick Model"
        bl_space_type = "VIEW_3D"
        bl_region_type = "UI"
        bl_category = "Studio"

        def draw(self, context):
            op = self.layout.operator("meshy.image_to_3d", text=f"Model {PHOTO}.png", icon="MESH_MONKEY")
            op.filepath = path

    bpy.utils.register_class(STUDIO_PT_quick_model)
    studio_ui = yield from g.open_sidebar_tab(win, v3d, "Studio")
    with bpy.context.temp_override(window=win, area=v3d, region=studio_ui):
        polled = bpy.ops.meshy.image_to_3d.poll()
    g.check("poll_true_in_3d_viewport_without_image", polled is True, f"poll()={polled}")
    g.park_pointer()
    yield 1.0
    g.screenshot("studio_button", g.x11_rect(win, v3d))

    # -- 3. the click, for real
    button = g.find_wide_button(win, v3d, min_fraction=0.3)  # a short label leaves less of the row in colour
    g.require("button_found_enabled", button, "no enabled wide button in the Studio tab (drawn disabled?)")
    g.data("button_at", button)
    g.click(*button)
    yield from g.wait_until(g.job_views, 5, "a job after clicking the button")
    views = g.job_views()
    g.check("submitted_by_click", len(views) == 1 and views[0].label == PHOTO,
            [(v.label, str(v.state)) for v in views])
    job_id = views[0].id
    g.park_pointer()
    pump = g.addon("blender.pump")
    yield 0.5
    g.check("pump_running", pump.is_running())

    # -- 4. the model lands
    eng = g.engine()
    yield from g.wait_until(lambda: str(eng.get(job_id).state) in ("imported", "failed", "error", "unknown"), 60,
                            "the job to be imported", interval=0.25)
    view = eng.get(job_id)
    g.require("job_imported", str(view.state) == "imported", f"{view.state}: {view.phase} {view.error}")
    objs = g.job_objects(job_id)
    meshes = [o for o in objs if o.type == "MESH"]
    g.check("model_in_scene", meshes, [o.name for o in objs])
    colls = {c.name for o in objs for c in o.users_collection}
    g.check("own_collection", len(colls) == 1 and next(iter(colls)).startswith(PHOTO), sorted(colls))
    active = bpy.context.view_layer.objects.active
    g.check("main_object_named_after_photo", active in objs and active.name == PHOTO,
            f"active {active.name if active else None}; objects {[o.name for o in objs]}")
    g.data("job", {"id": view.id, "task_id": view.task_id})
    rwin = g.find_region(v3d, "WINDOW")
    with bpy.context.temp_override(window=win, area=v3d, region=rwin):
        bpy.ops.view3d.view_selected()
    g.park_pointer()
    yield 1.0
    g.screenshot("button_imported", g.x11_rect(win, v3d))


g.run("button", scenario)

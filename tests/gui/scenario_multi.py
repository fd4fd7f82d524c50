"""Two reference-image empties selected -> "Generate from References" -> a Multi-Image to 3D job -> imported.

Runs inside the windowed Blender (see gui_lib), against the local server. Steps:
  1. two views of an object (made here) as reference-image empties, as Add > Image > Reference makes
     them (empty_display_type 'IMAGE' with an image), both selected, the second one active;
  2. the 3D Viewport's Meshy tab on "Reference Photos": it lists both images, active first;
  3. the panel's "Generate from References" button is clicked with xdotool (found by its pixels; else
     the operator is invoked with the viewport's context); the job is a Multi-Image to 3D job;
  4. the pump imports the model into its own collection; the reference empties are untouched.
"""

import os
import sys

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g


def reference_empty(name, image, x):
    obj = bpy.data.objects.new(name, None)
    obj.empty_display_type = "IMAGE"
    obj.empty_display_size = 2.0
    obj.data = image
    obj.location = (x, 2.5, 1.0)
    obj.rotation_euler = (1.5708, 0.0, 0.0)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def scenario():
    yield 0.5
    g.set_online(True)
    g.use_library()
    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    bpy.data.objects.remove(bpy.data.objects["Cube"])
    front = reference_empty("Ref front", g.make_image("teapot_front", 320, 256, hue=0.6), -1.2)
    side = reference_empty("Ref side", g.make_image("teapot_side", 256, 256, hue=0.35), 1.2)
    bpy.context.view_layer.update()
    for obj in bpy.context.scene.objects:
        obj.select_set(obj in (front, side))
    bpy.context.view_layer.objects.active = side
    s = bpy.context.scene.meshy
    s.source = "REFERENCES"
    ui = yield from g.open_sidebar_tab(win, v3d, "Meshy")
    rwin = g.find_region(v3d, "WINDOW")
    with bpy.context.temp_override(window=win, area=v3d, region=rwin):
        bpy.ops.view3d.view_all()
    g.undo_push("Add the references")
    refs = g.addon("blender.images").reference_images
    with bpy.context.temp_override(window=win, area=v3d, region=ui):
        order = [img.name for _obj, img in refs(bpy.context)]
    g.check("references_in_order", order == ["teapot_side", "teapot_front"], f"panel order {order}")
    g.park_pointer()
    yield 1.0
    g.screenshot("references_selected", g.x11_rect(win, v3d))

    button = g.find_wide_button(win, v3d)
    submitted_by = ""
    if button:
        g.click(*button)
        try:
            yield from g.wait_until(g.job_views, 4, "a job after the click")
            submitted_by = "xdotool click on the panel button"
        except g.ScenarioFailed:
            g.log("the click did not submit a job; invoking the operator instead")
    if not submitted_by:
        with bpy.context.temp_override(window=win, area=v3d, region=ui):
            r = bpy.ops.meshy.multi_image_to_3d("INVOKE_DEFAULT")
        g.log(f"meshy.multi_image_to_3d INVOKE_DEFAULT -> {r}")
        yield from g.wait_until(g.job_views, 4, "a job after invoking the operator")
        submitted_by = "operator invoked with the 3D Viewport's context"
    g.check("submitted", True, submitted_by)
    view = g.job_views()[0]
    g.check("multi_image_job", view.kind == "multi-image-to-3d", view.kind)
    g.park_pointer()
    pump = g.addon("blender.pump")
    yield 1.0
    g.check("pump_running", pump.is_running())
    g.screenshot("multi_progress", g.x11_rect(win, v3d))
    eng = g.engine()
    yield from g.wait_until(lambda: eng.get(view.id).state in ("imported", "failed", "error"), 60,
                            "the multi-image job to be imported", interval=0.25)
    view = eng.get(view.id)
    g.require("job_imported", view.state == "imported", f"{view.state}: {view.phase} {view.error}")
    objs = g.job_objects(view.id)
    meshes = [o for o in objs if o.type == "MESH"]
    g.check("model_in_scene", meshes, [o.name for o in objs])
    colls = {c.name for o in objs for c in o.users_collection}
    g.check("own_collection", len(colls) == 1, sorted(colls))
    g.check("references_untouched", {"Ref front", "Ref side"} <= set(bpy.data.objects.keys())
            and front.data.name == "teapot_front" and side.data.name == "teapot_side")
    g.check("imported_selected_active", bpy.context.view_layer.objects.active in objs)
    g.data("job", {"id": view.id, "task_id": view.task_id, "input_names": view.input_names})
    with bpy.context.temp_override(window=win, area=v3d, region=rwin):
        bpy.ops.view3d.view_all()
    g.park_pointer()
    yield 1.0
    g.screenshot("multi_imported", g.x11_rect(win, v3d))


g.run("multi", scenario)

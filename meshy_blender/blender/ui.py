"""Panels: the "Meshy" tab in the 3D Viewport and Image Editor sidebars.

draw() only reads cheap state (settings, the engine's snapshot); it never waits.
"""

import bpy

from . import addon


def draw_account(layout, context):
    reason = addon.unavailable_reason(context)
    if reason:
        box = layout.box()
        box.alert = True
        for part in reason.split(": ", 1):
            box.label(text=part, icon="ERROR" if part == reason.split(": ", 1)[0] else "BLANK1")
        if not addon.api_key(context):
            box.operator("preferences.addon_show", text="Open Preferences", icon="PREFERENCES").module = (
                addon.ADDON_ID
            )


class MESHY_PT_main(bpy.types.Panel):
    bl_idname = "MESHY_PT_main"
    bl_label = "Meshy: Photo to 3D"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Meshy"

    def draw(self, context):
        draw_account(self.layout, context)


class MESHY_PT_image_editor(bpy.types.Panel):
    bl_idname = "MESHY_PT_image_editor"
    bl_label = "Meshy: Photo to 3D"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Meshy"

    def draw(self, context):
        draw_account(self.layout, context)


CLASSES = (MESHY_PT_main, MESHY_PT_image_editor)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

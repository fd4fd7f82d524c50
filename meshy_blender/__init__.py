"""Meshy for Blender: photos to textured 3D models through Meshy's Image to 3D API.

Only registration lives here; everything Blender-specific is imported when Blender
enables the add-on, so the pure packages (meshy, jobs) import without bpy.
"""


def register():
    from .blender import register as _register

    _register()


def unregister():
    from .blender import unregister as _unregister

    _unregister()

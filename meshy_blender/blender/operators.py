"""Operators (meshy.*): thin wrappers that validate input and hand work to the job engine."""

import bpy

CLASSES = ()


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

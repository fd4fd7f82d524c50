"""Blender glue: everything that imports bpy lives in this package.

Registration stays cheap: the modules here import only bpy at load time; the
Meshy client and the job engine are imported the first time a job needs them.
"""

import atexit

import bpy

from . import asset_library, followup_ops, handlers, operators, preferences, properties, pump, rebuild_ops, ui

_MODULES = (preferences, properties, operators, followup_ops, asset_library, rebuild_ops, pump, ui, handlers)


def register():
    for module in _MODULES:
        module.register()
    if not bpy.app.binary_path:  # the bpy module: its exit hangs while the add-on is still registered
        atexit.register(unregister)  # runs before bpy's own exit (atexit: last in, first out)


def unregister():
    from . import runtime

    atexit.unregister(unregister)
    runtime.shutdown()
    for module in reversed(_MODULES):
        module.unregister()

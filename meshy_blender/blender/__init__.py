"""Blender glue: everything that imports bpy lives in this package.

Registration stays cheap: the modules here import only bpy at load time; the
Meshy client and the job engine are imported the first time a job needs them.
"""

from . import asset_library, followup_ops, handlers, operators, preferences, properties, pump, rebuild_ops, ui

_MODULES = (preferences, properties, operators, followup_ops, asset_library, rebuild_ops, pump, ui, handlers)


def register():
    for module in _MODULES:
        module.register()


def unregister():
    from . import runtime

    runtime.shutdown()
    for module in reversed(_MODULES):
        module.unregister()

"""The model library as an entry of Preferences > File Paths > Asset Libraries, added on request only.

The user's preferences are theirs: nothing here runs at register(), when a job lands or when the
library folder changes; only the button (panel, preferences) and `api.add_asset_library()` add
or update the one entry named "Meshy". Saving preferences stays the user's business too: the UI
says whether the entry is saved (Blender's Auto-Save Preferences) or still needs Save Preferences.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

from . import report, runtime

LIBRARY_NAME = "Meshy"
# The first of these that this Blender accepts: "Append (Reuse Data)" (a second drop of a model shares its
# meshes and textures) up to 4.5; Blender 5.x no longer offers it for a library and has "Pack" instead
# (linked, packed into the file: shared as well, and the file stands alone).
IMPORT_METHODS = ("APPEND_REUSE", "PACK", "APPEND")
IMPORT_METHOD = IMPORT_METHODS[0]


@dataclass(frozen=True)
class AssetLibraryEntry:
    """What the click did, for scripts (api.add_asset_library) and the operator's report."""

    name: str
    path: str
    import_method: str
    change: str  # "added", "updated" (path or import method), "unchanged"
    saved_note: str


def _same(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        return os.path.normcase(os.path.normpath(os.path.abspath(bpy.path.abspath(p)))) if p else ""

    return bool(a) and norm(a) == norm(b)


def entry(context=None):
    """The Asset Libraries entry for the model library: the one named "Meshy", else one the user
    made for the same folder under a name of their own; None when there is neither."""
    context = context or bpy.context
    libraries = context.preferences.filepaths.asset_libraries
    named = libraries.get(LIBRARY_NAME)
    if named is not None:
        return named
    folder = str(runtime.library_dir(context, create=False))
    return next((lib for lib in libraries if _same(lib.path, folder)), None)


def status(context=None) -> str:
    """"missing", "moved" (the entry points at another folder than the Model Library now) or "current"."""
    lib = entry(context)
    if lib is None:
        return "missing"
    return "current" if _same(lib.path, str(runtime.library_dir(context, create=False))) else "moved"


def saved_note(context=None) -> str:
    prefs = (context or bpy.context).preferences
    if prefs.use_preferences_save:
        return "Saved with your preferences when Blender quits (Auto-Save Preferences is on)"
    if prefs.is_dirty:
        return "Not saved yet: Preferences > Save Preferences keeps it for the next start"
    return "Saved in your preferences"


def add_asset_library(context=None) -> AssetLibraryEntry:
    """Add the model library folder as the asset library "Meshy" (Append (Reuse Data)), or point the
    existing entry at the folder in use now. Exactly one entry, however often it is called."""
    context = context or bpy.context
    folder = runtime.library_dir(context)
    folder.mkdir(parents=True, exist_ok=True)  # an asset library's folder must exist to be browsed
    lib = entry(context)
    if lib is None:
        lib = context.preferences.filepaths.asset_libraries.new(name=LIBRARY_NAME, directory=str(folder))
        change = "added"
    else:
        change = "unchanged" if _same(lib.path, str(folder)) else "updated"
    if _set_import_method(lib) and change == "unchanged":
        change = "updated"
    if change != "unchanged":
        lib.path = str(folder)
        context.preferences.is_dirty = True
    return AssetLibraryEntry(lib.name, lib.path, lib.import_method, change, saved_note(context))


def _set_import_method(lib) -> bool:
    """The first of IMPORT_METHODS this Blender accepts (its enum is built per version); True if changed."""
    current = lib.import_method
    for method in IMPORT_METHODS:
        if method == current:
            return False
        try:
            lib.import_method = method
        except TypeError:  # not offered by this Blender
            continue
        return True
    return False


class MESHY_OT_add_asset_library(bpy.types.Operator):
    """Show every model of the library in the Asset Browser: add its folder to Preferences > File Paths >
    Asset Libraries as "Meshy" (Append (Reuse Data), or Pack where Blender offers no other), or update the
    entry's folder"""

    bl_idname = "meshy.add_asset_library"
    bl_label = "Show Models in Asset Browser"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        try:
            result = add_asset_library(context)
        except (OSError, RuntimeError, ValueError) as exc:
            report.tell("ERROR", f"The model library could not be added to the Asset Browser ({exc}). "
                        "Check the Model Library folder in the add-on's preferences.", op=self)
            return {"CANCELLED"}
        what = {"added": "added", "updated": "now points at", "unchanged": "already shows"}[result.change]
        report.tell("INFO", f"Asset library '{result.name}' {what} {result.path}. {result.saved_note}.", op=self)
        return {"FINISHED"}


def draw(layout, context) -> None:
    """The button, or the entry's state when it is current (panel and preferences)."""
    state = status(context)
    col = layout.column(align=True)
    if state == "missing":
        col.operator(MESHY_OT_add_asset_library.bl_idname, icon="ASSET_MANAGER")
        return
    lib = entry(context)
    if state == "moved":
        col.label(text=f"Asset library '{lib.name}' shows another folder", icon="ERROR")
        col.operator(MESHY_OT_add_asset_library.bl_idname, text="Update Asset Library", icon="FILE_REFRESH")
        return
    col.label(text=f"In the Asset Browser as '{lib.name}'", icon="ASSET_MANAGER")
    if not context.preferences.use_preferences_save and context.preferences.is_dirty:
        col.label(text="Not saved yet: Save Preferences keeps it", icon="INFO")


CLASSES = (MESHY_OT_add_asset_library,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)  # type: ignore[misc]  # stub says None

"""Application handlers: restart the pump after File > Open and when Blender starts with jobs."""

import bpy
from bpy.app.handlers import persistent


@persistent
def on_load_post(*_args):
    pass


def register():
    bpy.app.handlers.load_post.append(on_load_post)


def unregister():
    if on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(on_load_post)

"""Add-on preferences: the API key and where things go.

Preferences live in userpref.blend, never in the user's .blend files, which is
why the key is kept here and nowhere else.
"""

import os

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from . import addon, asset_library, report


def _on_engine(apply):
    """An update callback applied at once to the running engine (none started yet: nothing to do)."""

    def update(prefs, context):
        from . import runtime

        eng = runtime.engine_if_started()
        if eng is not None:
            apply(eng, prefs, context, runtime)

    return update


# More (or fewer) jobs talk to Meshy, or models convert, at the same time; new jobs download into
# the new folder (running ones keep theirs).
_apply_max_concurrent = _on_engine(lambda eng, prefs, _ctx, _rt: eng.set_max_concurrent(prefs.max_concurrent))
_apply_max_conversions = _on_engine(lambda eng, prefs, _ctx, _rt: eng.set_max_conversions(prefs.max_conversions))
_apply_library_dir = _on_engine(lambda eng, _prefs, ctx, rt: eng.set_library_dir(rt.library_dir(ctx)))


class MeshyPreferences(bpy.types.AddonPreferences):
    bl_idname = addon.ADDON_ID

    api_key: StringProperty(
        name="API Key",
        description="Your Meshy API key (msy-...). Stored in Blender's preferences, never in .blend files. "
        "The MESHY_API_KEY environment variable overrides it",
        subtype="PASSWORD",
        default="",
    )
    api_base_url: StringProperty(
        name="API URL",
        description="Meshy API base URL. The MESHY_API_BASE_URL environment variable overrides it",
        default=addon.DEFAULT_BASE_URL,
    )
    library_dir: StringProperty(
        name="Model Library",
        description="Folder for downloaded models, one sub-folder per task, used by jobs submitted from now "
        "on. Empty: the add-on's own user folder",
        subtype="DIR_PATH",
        default="",
        update=_apply_library_dir,
    )
    max_image_size: IntProperty(
        name="Max Upload Size",
        description="Images larger than this on their long side are downscaled before upload",
        default=4096,
        min=256,
        max=16384,
        subtype="PIXEL",
    )
    max_concurrent: IntProperty(
        name="Concurrent Jobs",
        description="How many jobs talk to Meshy at the same time; more wait locally as queued",
        default=4,
        min=1,
        max=20,
        update=_apply_max_concurrent,
    )
    max_conversions: IntProperty(
        name="Concurrent Conversions",
        description="How many downloaded models are converted at the same time, each in a background Blender "
        "(a CPU core and a few hundred MB each); more wait as converting",
        default=2,
        min=1,
        max=8,
        update=_apply_max_conversions,
    )
    link_models: BoolProperty(
        name="Link Models",
        description="Link each converted model from its model.blend in the library (one empty instancing it: "
        "small .blend files, not editable here) instead of appending it",
        default=False,
    )
    import_at_cursor: BoolProperty(
        name="Import at 3D Cursor",
        description="Place the models of jobs submitted from now on at the 3D cursor; off: at the world origin",
        default=True,
    )
    # Network (see meshy/network.py): kept here in userpref.blend, never in a .blend or an environment.
    proxy: StringProperty(
        name="Proxy",
        description="HTTP proxy for Meshy, e.g. http://user:password@proxy:3128. Empty: the system's "
        "(HTTPS_PROXY, NO_PROXY, the OS settings); 'none': connect directly. Never shown in messages",
        subtype="PASSWORD",
        default="",
    )
    ca_bundle: StringProperty(
        name="CA Bundle",
        description="PEM file with your organisation's CA certificate, for networks that inspect HTTPS. "
        "Added to the system's certificates; empty: MESHY_CA_BUNDLE, REQUESTS_CA_BUNDLE or SSL_CERT_FILE",
        subtype="FILE_PATH",
        default="",
    )

    def draw(self, context):
        layout = self.layout
        col = layout.column()
        env_key = os.environ.get(addon.ENV_KEY, "").strip()
        row = col.row(align=True)
        row.active = not env_key
        row.prop(self, "api_key")
        row.operator("meshy.use_test_key", text="", icon="EXPERIMENTAL")
        if env_key:
            col.label(text="Using the key from MESHY_API_KEY (it overrides this field)", icon="INFO")
        elif self.api_key == addon.TEST_MODE_KEY:
            col.label(text="Test mode: no credits are used; Meshy returns sample results", icon="INFO")
        elif not self.api_key:
            col.label(text="Get a key at meshy.ai > Settings > API Keys", icon="INFO")
        row = col.row()
        row.active = not os.environ.get(addon.ENV_BASE_URL, "").strip()
        row.prop(self, "api_base_url")
        if not row.active:
            col.label(text="Using the URL from MESHY_API_BASE_URL", icon="INFO")
        col.separator()
        col.prop(self, "library_dir")
        asset_library.draw(col.box(), context)
        from .rebuild_ops import draw_rebuild

        draw_rebuild(col, context)
        col.prop(self, "max_image_size")
        col.prop(self, "max_concurrent")
        col.prop(self, "max_conversions")
        col.prop(self, "link_models")
        col.prop(self, "import_at_cursor")
        net = layout.column(heading="Network")
        net.prop(self, "proxy")
        net.prop(self, "ca_bundle")
        if not addon.online(context):
            box = layout.box()
            box.label(text="Online access is off: Meshy cannot be reached.", icon="ERROR")
            box.label(text="Allow it in Preferences > System > Network.")


class MESHY_OT_use_test_key(bpy.types.Operator):
    """Fill in Meshy's documented test-mode key: every request works, no credits are used"""

    bl_idname = "meshy.use_test_key"
    bl_label = "Use Test-Mode Key"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        p = addon.prefs(context)
        if p is None:
            report.tell("ERROR", "add-on preferences not found", op=self)
            return {"CANCELLED"}
        p.api_key = addon.TEST_MODE_KEY
        context.preferences.is_dirty = True
        report.tell("INFO", "test-mode key set: no credits will be used", op=self)
        return {"FINISHED"}


CLASSES = (MeshyPreferences, MESHY_OT_use_test_key)


register, unregister = bpy.utils.register_classes_factory(CLASSES)  # type: ignore[misc]  # stub says None

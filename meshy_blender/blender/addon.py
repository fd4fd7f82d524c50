"""Names that every Blender module needs: the add-on's package id and its preferences."""

import os

import bpy

# bl_ext.<repo>.meshy_blender once installed as an extension; meshy_blender from a plain checkout.
ADDON_ID = __package__.rpartition(".")[0]
ADDON_PACKAGE = ADDON_ID  # what bpy.utils.extension_path_user expects

TEST_MODE_KEY = "msy_dummy_api_key_for_test_mode_12345678"
DEFAULT_BASE_URL = "https://api.meshy.ai"
ENV_KEY = "MESHY_API_KEY"
ENV_BASE_URL = "MESHY_API_BASE_URL"


def prefs(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon else None


def api_key(context=None) -> str:
    """The key in force: MESHY_API_KEY wins over the preferences."""
    env = os.environ.get(ENV_KEY, "").strip()
    if env:
        return env
    p = prefs(context)
    return p.api_key.strip() if p else ""


def base_url(context=None) -> str:
    env = os.environ.get(ENV_BASE_URL, "").strip()
    if env:
        return env.rstrip("/")
    p = prefs(context)
    url = p.api_base_url.strip() if p else ""
    return (url or DEFAULT_BASE_URL).rstrip("/")


def online(context=None) -> bool:
    """Extensions must not touch the network unless Blender allows it."""
    return bool(getattr(bpy.app, "online_access", True))


def unavailable_reason(context=None) -> str:
    """Why nothing can be sent right now, or "" when a job may be submitted."""
    if not online(context):
        return "Online access is off: allow it in Preferences > System > Network"
    if not api_key(context):
        return "No Meshy API key: set it in Preferences > Add-ons > Meshy (or MESHY_API_KEY)"
    return ""


def has_window(context=None) -> bool:
    """False in background mode (headless scripts), where nothing is drawn."""
    return not bpy.app.background

"""Process-wide state of the add-on: the job engine, account info and previews, created on first use.

Nothing here is created at register(): enabling the add-on stays fast and touches no disk.
Worker threads never read bpy; they read `ClientSettings`, which the main thread refreshes.
`account` is what the panel draws of the account; only the pump writes it, on the main thread,
from the engine's account look-ups (one way to run background work: the engine's threads).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import bpy

from . import addon, report


class ClientSettings:
    """Key, URL, proxy and CA bundle copied from the preferences on the main thread, read by workers.

    The proxy (it may hold credentials) goes only into the client's NetworkConfig, never into
    os.environ, so no child process inherits it.
    """

    __slots__ = ("api_key", "base_url", "ca_bundle", "proxy")

    def __init__(self):
        self.api_key = ""
        self.base_url = addon.DEFAULT_BASE_URL
        self.proxy = ""
        self.ca_bundle = ""

    def __repr__(self):  # never show the key or the proxy's credentials
        return f"ClientSettings(base_url={self.base_url!r}, ca_bundle={self.ca_bundle!r})"

    def refresh(self, context=None):
        self.api_key = addon.api_key(context)
        self.base_url = addon.base_url(context)
        p = addon.prefs(context)
        self.proxy = p.proxy.strip() if p else ""
        self.ca_bundle = bpy.path.abspath(p.ca_bundle.strip()) if p and p.ca_bundle.strip() else ""

    def client(self):
        """A client (called on worker threads): reading the environment and OS proxy settings happens here."""
        from ..meshy import __version__  # noqa: F401  (the client names the add-on in its User-Agent)
        from ..meshy.client import MeshyClient
        from ..meshy.network import NetworkConfig

        network = NetworkConfig(proxy=self.proxy, ca_bundle=self.ca_bundle)
        return MeshyClient(self.api_key, self.base_url, network=network, **CLIENT_TUNING)


settings = ClientSettings()
account: dict[str, Any] = {"balance": None, "balance_error": "", "history": None, "history_error": ""}
_state: dict = {"engine": None, "previews": None, "session": os.urandom(16).hex()}
# Extra JobEngine keyword arguments (retry/queue delays, poll interval, ``converter``: a
# converter.Launcher, or None for the in-process import) for the next engine created,
# and MeshyClient keyword arguments (timeouts, retry policy) for every client. Empty in normal use;
# tests and headless tools may set them (ENGINE_TUNING before the engine is first used).
ENGINE_TUNING: dict = {}
CLIENT_TUNING: dict = {}


def session_token() -> str:
    """Identifies the open file while it is unsaved; a new one after every File > Open / New."""
    return _state["session"]


def new_session():
    _state["session"] = os.urandom(16).hex()


def user_folder(sub: str, create: bool = True) -> Path:
    return Path(bpy.utils.extension_path_user(addon.ADDON_PACKAGE, path=sub, create=create))


def library_dir(context=None, create: bool = True) -> Path:
    """The Model Library folder; ``create=False`` for draw(), which must not touch the disk (the default
    folder is created on first use; a custom one by whoever writes into it)."""
    p = addon.prefs(context)
    custom = bpy.path.abspath(p.library_dir) if p and p.library_dir else ""
    if custom:
        return Path(custom)
    return user_folder("library", create=create)


def engine(context=None):
    """The job engine, created (and its journal recovered) on first use."""
    if _state["engine"] is None:
        from ..jobs import JobEngine

        settings.refresh(context)
        p = addon.prefs(context)
        tuning = {"converter": converter_launcher(), **ENGINE_TUNING}
        eng = JobEngine(
            user_folder("journal"),
            library_dir(context),
            settings.client,
            max_concurrent=p.max_concurrent if p else 4,
            max_conversions=p.max_conversions if p else 2,
            **tuning,
        )
        _state["engine"] = eng
        if addon.online(context):
            eng.recover()
    return _state["engine"]


def converter_launcher():
    """How the engine starts a converter: this Blender's own binary in a windowed (or command-line)
    Blender, else (the bpy module, where binary_path is empty) this Python, whose script imports bpy."""
    from ..jobs.converter import Launcher

    binary = bpy.app.binary_path or ""
    return Launcher(blender=binary, python="" if binary else sys.executable)


def engine_if_started():
    return _state["engine"]


def journal_has_jobs() -> bool:
    """Cheap check at startup: is there anything to carry on? (a directory listing, no parsing)"""
    try:
        folder = Path(bpy.utils.extension_path_user(addon.ADDON_PACKAGE, path="journal", create=False))
    except (ValueError, RuntimeError):
        return False
    return folder.is_dir() and any(folder.glob("*.json"))


def previews():
    """The add-on's one preview collection (job thumbnails)."""
    if _state["previews"] is None:
        import bpy.utils.previews

        _state["previews"] = bpy.utils.previews.new()
    return _state["previews"]


def has_previews() -> bool:
    return _state["previews"] is not None


def thumbnail_icon(job_id: str, path: str) -> int:
    """Icon id of a job's thumbnail, loaded once (called from the pump, not from draw)."""
    pcoll = previews()
    if job_id not in pcoll:
        pcoll.load(job_id, path, "IMAGE")
    return pcoll[job_id].icon_id


def shutdown():
    """Stop workers and free previews; journal records stay for the next start."""
    eng = _state["engine"]
    _state["engine"] = None
    if eng is not None:
        eng.shutdown(wait=False)
    if _state["previews"] is not None:
        import bpy.utils.previews

        bpy.utils.previews.remove(_state["previews"])
        _state["previews"] = None
    account.update(balance=None, balance_error="", history=None, history_error="")
    report.dismiss()

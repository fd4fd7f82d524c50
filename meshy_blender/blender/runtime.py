"""Process-wide state of the add-on: the job engine and preview images, created on first use.

Nothing here is created at register(): enabling the add-on stays fast and touches no disk.
"""

_state = {"engine": None, "previews": None}


def previews():
    """The add-on's one preview collection (job thumbnails, input previews)."""
    if _state["previews"] is None:
        import bpy.utils.previews

        _state["previews"] = bpy.utils.previews.new()
    return _state["previews"]


def has_previews() -> bool:
    return _state["previews"] is not None


def shutdown():
    """Stop workers and free previews; journal records stay for the next start."""
    engine = _state.pop("engine", None)
    _state["engine"] = None
    if engine is not None:
        engine.shutdown(wait=False)
    if _state["previews"] is not None:
        import bpy.utils.previews

        bpy.utils.previews.remove(_state["previews"])
        _state["previews"] = None

"""Pure-Python client for Meshy's Image to 3D and Multi-Image to 3D REST API, and the follow-ups on their
models (Remesh, Retexture, Rigging, Animation).

Standard library only and never imports bpy.  Importing this package is nearly free: the
submodules (and http.client / ssl) load on first use of a name, so enabling the add-on stays fast.

    from meshy_blender.meshy import MeshyClient, ImageTo3DOptions, IMAGE_TO_3D
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

IMAGE_TO_3D = "image-to-3d"
MULTI_IMAGE_TO_3D = "multi-image-to-3d"
KINDS = (IMAGE_TO_3D, MULTI_IMAGE_TO_3D)
# Follow-ups on a finished model; each kind is its endpoint's path, like the two above.
REMESH = "remesh"
RETEXTURE = "retexture"
RIGGING = "rigging"
ANIMATION = "animations"
FOLLOWUP_KINDS = (REMESH, RETEXTURE, RIGGING, ANIMATION)
ALL_KINDS = KINDS + FOLLOWUP_KINDS

_LAZY = {
    # client
    "MeshyClient": "client",
    "RetryPolicy": "client",
    # options / pricing
    "ImageTo3DOptions": "options",
    "MultiImageTo3DOptions": "options",
    "TaskOptions": "options",
    "OPTION_FIELDS": "options",
    "OptionField": "options",
    "options_from_dict": "options",
    "estimate_credits": "pricing",
    "followup_credits": "pricing",
    # follow-ups
    "RemeshOptions": "followup_options",
    "RetextureOptions": "followup_options",
    "RiggingOptions": "followup_options",
    "AnimationOptions": "followup_options",
    "FollowupOptions": "followup_options",
    "followup_options_from_dict": "followup_options",
    "AnimationAction": "followups",
    "AnimationResult": "followups",
    "RigResult": "followups",
    "check_source": "followups",
    "check_action": "followups",
    # task
    "Task": "task",
    "TaskError": "task",
    "TaskStatus": "task",
    # sse
    "SSEEvent": "sse",
    "iter_sse": "sse",
    # download (the function is meshy.download.download: ``meshy.download`` is the submodule)
    "safe_filename": "download",
    # errors
    "ReportableError": "errors",
    "user_message_of": "errors",
    "MeshyError": "errors",
    "ValidationError": "errors",
    "ApiError": "errors",
    "BadRequestError": "errors",
    "AuthenticationError": "errors",
    "InsufficientCreditsError": "errors",
    "ForbiddenError": "errors",
    "NotFoundError": "errors",
    "RateLimitError": "errors",
    "QueueFullError": "errors",
    "ServerError": "errors",
    "NetworkError": "errors",
    "RequestTimeoutError": "errors",
    "SubmissionUncertainError": "errors",
    "StreamError": "errors",
    "StreamNotFoundError": "errors",
    "DownloadError": "errors",
    "LinkExpiredError": "errors",
    "NotHumanoidError": "errors",
    "CancelledError": "errors",
}

__all__ = ["ALL_KINDS", "ANIMATION", "FOLLOWUP_KINDS", "IMAGE_TO_3D", "KINDS", "MULTI_IMAGE_TO_3D", "REMESH",
           "RETEXTURE", "RIGGING", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> object:
    """Load the submodule that defines ``name`` on first access (PEP 562)."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

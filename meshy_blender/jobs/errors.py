"""The engine's own errors: requests it cannot carry out, said so the user knows what to do."""

from __future__ import annotations

from ..meshy.errors import ReportableError


class JobError(ReportableError, ValueError):
    """This job cannot do that now (nothing to retry, inputs missing, another Blender works on it)."""


class EngineClosed(ReportableError, RuntimeError):
    """The engine was shut down (the add-on was disabled or is reloading); the next one takes new jobs."""

    def __init__(self, message: str = "The Meshy job engine has been shut down; enable the add-on again."):
        super().__init__(message)

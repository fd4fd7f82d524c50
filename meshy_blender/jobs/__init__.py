"""The job engine: durable records, worker threads and events for the Blender side.

Pure Python (standard library only), never imports bpy, and imports no network code until a
worker needs it, so enabling the add-on stays fast.

    from meshy_blender.jobs import JobEngine, JobSpec, UploadImage, JobState, JobView, JobEvent, Journal

Inside: ``engine`` (the public surface) imports the worker modules (``worker``, ``inputs``,
``remote``, ``account``); they reach the engine's state only through ``context.WorkerContext``
(``table.JobTable``, ``turns.CreateTurns``, ``settings.EngineSettings``) and never import ``engine``.
"""

from .engine import JobEngine
from .errors import EngineClosed, JobError
from .journal import JobRecord, Journal
from .live import LiveJob
from .model import AccountEvent, JobEvent, JobSpec, JobView, UploadImage
from .settings import EngineSettings
from .states import ACTIVE, FINISHED, JobState

__all__ = ["ACTIVE", "FINISHED", "AccountEvent", "EngineClosed", "EngineSettings", "JobEngine", "JobError",
           "JobEvent", "JobRecord", "JobSpec", "JobState", "JobView", "Journal", "LiveJob", "UploadImage"]

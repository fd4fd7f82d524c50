"""The job engine: durable records, worker threads and events for the Blender side.

Pure Python (standard library only), never imports bpy, and imports no network code until a
worker needs it, so enabling the add-on stays fast.

    from meshy_blender.jobs import JobEngine, JobSpec, UploadImage, JobState, JobView, JobEvent, Journal
"""

from .engine import JobEngine
from .journal import JobRecord, Journal
from .model import JobEvent, JobSpec, JobView, UploadImage
from .states import ACTIVE, FINISHED, JobState

__all__ = ["ACTIVE", "FINISHED", "JobEngine", "JobEvent", "JobRecord", "JobSpec", "JobState", "JobView", "Journal",
           "UploadImage"]

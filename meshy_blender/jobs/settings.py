"""The engine's tuning, frozen: how long workers wait between tries and how often they look.

One EngineSettings is made with the engine and read by every worker, so no thread ever sees a
half-changed policy. What may change while jobs run (how many at once, how many conversions, where new jobs go) lives
on JobEngine instead: set_max_concurrent(), set_max_conversions() and set_library_dir().
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EngineSettings:
    download_textures: bool = True  # fetch the texture maps Meshy lists (the GLB has them too)
    queue_full_delay: float = 10.0  # first wait after 429 NoMoreConcurrentTasks (doubles each time)
    queue_full_max_delay: float = 60.0
    retry_delay: float = 2.0  # first wait after a network / 5xx / stream problem (doubles each time)
    retry_max_delay: float = 60.0
    reconcile_delays: tuple[float, ...] = (1.0, 2.0, 4.0)  # looks at the task list for a lost create
    max_download_failures: int = 6  # in a row, before the job asks the user to press Retry
    poll_interval: float = 5.0  # polling, when the progress stream is unavailable
    event_interval: float = 0.1  # least time between two progress-only events of one job
    # converter.Launcher (how to start a background Blender) given by the Blender side; None: no
    # conversion step, the main thread imports model.glb itself (pure tests, older callers).
    converter: Any = None
    convert_time_limit: float = 600.0  # seconds one conversion may take before it is killed
    # model.blend saved zstd-compressed: about 40 % of the size (a 1M-triangle model: 41 MB against 107 MB,
    # less than its GLB), but an append reads it about twice as long. Batch libraries turn it on.
    compress_models: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "reconcile_delays", tuple(float(d) for d in self.reconcile_delays))
        for name in ("queue_full_delay", "queue_full_max_delay", "retry_delay", "retry_max_delay",
                     "poll_interval", "event_interval", "convert_time_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"EngineSettings.{name} must not be negative")
        if any(d < 0 for d in self.reconcile_delays) or self.max_download_failures < 1:
            raise ValueError("EngineSettings: reconcile delays must not be negative, download failures >= 1")


def backoff(base: float, cap: float, n: int) -> float:
    """base, 2*base, 4*base ... capped: the n-th wait in a row."""
    return min(cap, base * 2 ** max(0, n - 1))

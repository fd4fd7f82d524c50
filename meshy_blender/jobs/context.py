"""WorkerContext: everything a worker thread may use of its engine (workers never see the engine).

The engine builds one and hands it to each worker: the table (to read and change jobs), the
create turns, the frozen settings and the client factory. Imports run one way: the engine
imports the worker modules; they import this, never the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .settings import EngineSettings
from .table import JobTable
from .turns import CreateTurns


@dataclass(frozen=True)
class WorkerContext:
    table: JobTable
    turns: CreateTurns
    settings: EngineSettings
    client_factory: Callable[[], Any]  # a new MeshyClient for this thread (closed by whoever made it)

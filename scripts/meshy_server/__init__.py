"""A local HTTP(S) server that behaves like Meshy's Image to 3D / Multi-Image to 3D REST API and its
follow-ups (Remesh, Retexture, Rigging, Animation).

Standard library only, and written from Meshy's documentation: it checks the add-on, so it shares
no code with it. Used by the test-suite in-process (``MeshyServer``) and by hand
(``python3 -m scripts.meshy_server --help`` from the repository root). Tasks progress lazily from
the clock; outputs are built per task from its own request on first download.

    tasks.py      the task model (status from the clock) and ids
    rules.py      validation of a create request, prices, list paging
    state.py      accounts and credits, tasks, rate and queue limits, counters
    server.py     MeshyServer: lifecycle (HTTP or TLS), signed asset links, task JSON
    handler.py    one request: routing and the API; streaming.py (SSE), downloads.py (assets, Range)
    faults.py     fault injection and the /_control API
    outputs.py    which files a task has; images.py, mesh.py, relief.py, pngread.py, formats.py build them
    followups.py  the follow-ups' requests, sources, prices, task objects; followup_outputs.py their files,
                  from modelio.py (reading models), remesh.py, retexture.py, rig.py, anim.py
    cli.py        the command line
"""

from .server import MeshyServer
from .state import TEST_KEY

__all__ = ["TEST_KEY", "MeshyServer"]

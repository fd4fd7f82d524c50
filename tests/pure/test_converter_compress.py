"""Which model.blend files are saved compressed: batch libraries (EngineSettings.compress_models), not the add-on's."""

from __future__ import annotations

import json

from meshy_blender.jobs import convert_worker
from meshy_blender.jobs.journal import JobRecord
from meshy_blender.jobs.settings import EngineSettings


def test_compression_follows_the_engine_setting(tmp_path):
    rec = JobRecord(id="j1", kind="image-to-3d", label="Mug", folder=str(tmp_path))
    assert EngineSettings().compress_models is False  # the add-on: the fastest append on the main thread
    plain = json.loads(convert_worker.request_for(rec).argument())
    packed = json.loads(convert_worker.request_for(rec, EngineSettings(compress_models=True).compress_models)
                        .argument())
    assert plain["compress"] is False and packed["compress"] is True

"""The engine refuses at submit exactly what does not fit Meshy's limit (meshy/upload.py), before any request."""

import base64

import pytest
from test_engine_support import png

from meshy_blender.jobs import JobSpec, UploadImage
from meshy_blender.meshy import upload
from meshy_blender.meshy.errors import ValidationError


def test_engine_refuses_an_image_one_byte_over_the_limit(kit):
    k = kit()
    eng = k.engine()
    head = png()
    too_big = head + b"\0" * (upload.max_file_bytes("image/png") + 1 - len(head))
    with pytest.raises(ValidationError) as info:
        eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("scan", "image/png", too_big)], label="scan"))
    assert info.value.field == "scan" and "100 MB" in str(info.value)
    uri = "data:image/png;base64," + base64.b64encode(too_big).decode()
    with pytest.raises(ValidationError) as info:
        eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("p", "image/png", head)],
                           options={"texture_image_url": uri}))
    assert info.value.field == "texture_image_url"
    assert eng.jobs() == [] and k.server.stats()["requests"] == 0

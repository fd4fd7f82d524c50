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


# --- deferred images (UploadImage.encode, run on a worker): checked once encoded, before any create ---


def test_a_deferred_image_is_encoded_on_a_worker_and_sent(kit):
    import threading

    k = kit()
    eng = k.engine()
    ran_on = []

    def make() -> bytes:
        ran_on.append(threading.current_thread())
        return png(16, 16)

    job_id = eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("late", "image/png", encode=make)]))
    assert ran_on == [] or ran_on[0] is not threading.main_thread()
    k.wait(eng, job_id, "ready", "imported", timeout=30)
    assert len(ran_on) == 1 and ran_on[0] is not threading.main_thread()
    view = eng.get(job_id)
    assert (view.input_names, view.error) == (["late"], "")


def test_a_deferred_image_over_the_limit_ends_the_job_before_any_create(kit):
    k = kit()
    eng = k.engine()
    head = png()
    too_big = head + b"\0" * (upload.max_file_bytes("image/png") + 1 - len(head))
    job_id = eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("scan", "image/png", encode=lambda: too_big)]))
    view = k.wait(eng, job_id, "error")
    assert "scan" in view.error and "100 MB" in view.error
    assert view.task_id is None and k.server.stats()["requests"] == 0


def test_a_failing_encoder_gives_the_job_a_clear_message(kit):
    k = kit()
    eng = k.engine()

    def broken() -> bytes:
        raise ValueError("bad pixels")

    job_id = eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("Painting", "image/png", encode=broken)]))
    view = k.wait(eng, job_id, "error")
    assert "'Painting' could not be converted for upload (ValueError: bad pixels)" in view.error
    assert "Nothing was sent to Meshy" in view.error
    assert k.server.stats()["requests"] == 0
    with pytest.raises(ValidationError, match="either as bytes or as an encode callable"):
        eng.submit(JobSpec(kind="image-to-3d", images=[UploadImage("x", "image/png", png(), encode=broken)]))

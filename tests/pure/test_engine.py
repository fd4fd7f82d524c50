"""The job engine over real HTTP against the local Meshy-compatible server (no mocks)."""

from __future__ import annotations

import base64
import threading
import time

import pytest
from test_engine_support import (
    KEY,
    client_factory,
    head,
    journal_record,
    meshy_threads,
    png,
    states_of,
)

from meshy_blender.jobs import JobSpec, JobState, UploadImage
from meshy_blender.meshy.errors import ValidationError


def spec(n_images: int = 1, **kw) -> JobSpec:
    images = [UploadImage(f"photo{i}.png", "image/png", png(8 + i, 8)) for i in range(n_images)]
    kind = "image-to-3d" if n_images == 1 else "multi-image-to-3d"
    return JobSpec(kind=kw.pop("kind", kind), images=kw.pop("images", images), **kw)


def test_submit_to_ready_to_imported(kit):
    k = kit(task_seconds=0.3)
    eng = k.engine()
    job_id = eng.submit(spec(options={"enable_pbr": True}, label="Red cube", blend_file="/x/scene.blend",
                             target={"scene": "Scene", "collection": "Props"}))
    first = eng.get(job_id)
    assert first.state == JobState.PREPARING and first.label == "Red cube" and first.credits == 30
    assert (k.journal_dir / f"{job_id}.json").exists(), "the record is written before submit() returns"

    view = k.wait(eng, job_id, "ready")
    folder = k.library_dir.resolve() / f"Red cube-{job_id[:8]}"
    assert view.folder == str(folder)
    assert head(view.files["model"], 4) == b"glTF"
    assert view.files["thumbnail"] == str(folder / "thumbnail.png")
    assert set(view.files["textures"]) == {"base_color", "metallic", "roughness", "normal", "emission"}
    for path in view.files["textures"].values():
        assert head(path, 8) == b"\x89PNG\r\n\x1a\n"
    assert (folder / "input_0.png").read_bytes() == png(8, 8), "the upload is kept for Submit again"
    assert not list(folder.rglob("*.part"))
    assert view.task_id and view.progress == 1.0 and view.phase == "Ready to import"
    assert view.expires_at and view.expires_at > time.time() + 3600
    assert view.target == {"scene": "Scene", "collection": "Props"} and view.blend_file == "/x/scene.blend"

    assert states_of(k, job_id) == ["preparing", "queued", "submitting", "pending", "in_progress", "succeeded",
                                    "downloading", "ready"]
    rec = journal_record(k, job_id)
    assert rec["submitted_at"] and rec["task_id"] == view.task_id and rec["attempts"] == 1
    ready = [e for e in k.seen(eng, job_id) if e.ready]
    assert len(ready) == 1 and ready[0].view.files["model"] == view.files["model"]
    phases = [e.view.phase for e in k.seen(eng, job_id)]
    assert "Uploading" in phases and any(p.startswith("Generating ") for p in phases)
    assert eng.has_active()

    eng.mark_importing(job_id)
    assert eng.get(job_id).state == "importing"
    eng.mark_imported(job_id, ["Cube", "Cube.001"], "/x/scene.blend")
    done = eng.get(job_id)
    assert done.state == "imported" and done.objects == ["Cube", "Cube.001"] and done.finished
    assert journal_record(k, job_id)["objects"] == ["Cube", "Cube.001"]
    assert not eng.has_active()
    assert eng.journal.lock(job_id) is not None, "a finished job's lock is released"
    assert k.server.stats()["creates"] == 1
    assert eng.stats()["imported"] == 1 and eng.stats()["ready"] == 0


def test_multi_image_and_textures_off(kit):
    k = kit()
    eng = k.engine(download_textures=False)
    job_id = eng.submit(spec(3, options={"enable_pbr": True, "should_remesh": True, "target_polycount": 5000}))
    view = k.wait(eng, job_id, "ready")
    assert view.kind == "multi-image-to-3d" and view.input_names == ["photo0.png", "photo1.png", "photo2.png"]
    assert "textures" not in view.files and head(view.files["model"], 4) == b"glTF"
    folder = k.library_dir.resolve() / view.folder.rsplit("/", 1)[-1]
    assert sorted(p.name for p in folder.glob("input_*")) == ["input_0.png", "input_1.png", "input_2.png"]
    task = client_factory(k.server)().retrieve("multi-image-to-3d", view.task_id)
    assert task.status == "SUCCEEDED"


def test_follow_an_existing_task(kit):
    k = kit()
    client = client_factory(k.server)()
    task_id = client.create("image-to-3d", {"image_url": "data:image/png;base64," + base64.b64encode(png()).decode()})
    eng = k.engine()
    job_id = eng.follow("image-to-3d", task_id, label="From history")
    assert eng.follow("image-to-3d", task_id) == job_id, "following the same task twice gives the same job"
    view = k.wait(eng, job_id, "ready")
    assert view.task_id == task_id and view.input_names == []
    assert k.server.stats()["creates"] == 1, "follow never creates"
    with pytest.raises(ValidationError):
        eng.follow("text-to-3d", task_id)


def test_full_queue_waits_locally_then_succeeds(kit):
    k = kit()
    k.server.set_faults(queue_full=3)
    eng = k.engine()
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "ready")
    seen = [(e.view.state, e.view.phase) for e in k.seen(eng, job_id)]
    assert ("queued", "Meshy queue full — waiting") in seen
    assert journal_record(k, job_id)["attempts"] == 4
    assert k.server.stats()["creates"] == 1 and view.error == ""


def test_concurrency_limit_queues_jobs(kit):
    k = kit(task_seconds=0.4)
    eng = k.engine(max_concurrent=2)
    ids = [eng.submit(spec(label=f"job{i}")) for i in range(4)]
    for job_id in ids:
        k.wait(eng, job_id, "ready")
    assert len([t for t in eng.threads() if t.name.startswith("meshy-job")]) <= 2
    assert [v.label for v in eng.jobs()] == ["job3", "job2", "job1", "job0"], "newest first"
    assert k.server.stats()["creates"] == 4


def test_failed_task_keeps_the_servers_message(kit):
    k = kit()
    eng = k.engine()
    job_id = eng.submit(spec(options={"texture_prompt": "wood [fail:moderation_blocked]"}))
    view = k.wait(eng, job_id, "failed")
    assert "moderation_blocked" in view.error and view.phase.startswith("Failed: ")
    assert not view.files and view.finished
    assert not eng.has_active()


def test_cancel_stops_locally_and_keeps_the_task(kit):
    k = kit(task_seconds=30)
    eng = k.engine()
    job_id = eng.submit(spec())
    k.wait(eng, job_id, "pending", "in_progress")
    t0 = time.monotonic()
    eng.cancel(job_id)
    view = eng.get(job_id)
    assert view.state == "canceled" and "keeps running" in view.phase
    eng.shutdown(wait=True)
    assert time.monotonic() - t0 < 3, "cancel must end the watch at once"
    assert journal_record(k, job_id)["state"] == "canceled"
    task = client_factory(k.server)().retrieve("image-to-3d", view.task_id)
    assert task.status in ("PENDING", "IN_PROGRESS"), "canceling locally deletes nothing"
    assert k.server.stats()["requests_by_route"]["delete"] == 0


def test_delete_remote(kit):
    k = kit(task_seconds=30)
    eng = k.engine()
    job_id = eng.submit(spec())
    k.wait(eng, job_id, "pending", "in_progress")
    eng.delete_remote(job_id)
    view = k.wait(eng, job_id, "canceled")
    deadline = time.monotonic() + 5
    while view.phase != "Deleted on Meshy's server" and time.monotonic() < deadline:
        k.drain(eng, timeout=0.05)
        view = eng.get(job_id)
    assert view.phase == "Deleted on Meshy's server"
    assert k.server.stats()["requests_by_route"]["delete"] == 1
    from meshy_blender.meshy.errors import NotFoundError

    with pytest.raises(NotFoundError):
        client_factory(k.server)().retrieve("image-to-3d", view.task_id)


def test_delete_after_cancel_and_after_import(kit):
    k = kit(task_seconds=30)
    eng = k.engine()
    job_id = eng.submit(spec())
    k.wait(eng, job_id, "pending", "in_progress")
    eng.cancel(job_id)
    eng.delete_remote(job_id)  # the user changes their mind: delete it on Meshy after all
    deadline = time.monotonic() + 5
    while eng.get(job_id).phase != "Deleted on Meshy's server" and time.monotonic() < deadline:
        k.drain(eng, timeout=0.05)
    assert eng.get(job_id).phase == "Deleted on Meshy's server" and eng.get(job_id).state == "canceled"

    other = eng.submit(spec())
    k.server.set_task(k.wait(eng, other, "pending", "in_progress").task_id, status="SUCCEEDED")
    k.wait(eng, other, "ready")
    eng.mark_imported(other, ["A"], "")
    eng.delete_remote(other)
    deadline = time.monotonic() + 5
    while eng.get(other).phase != "Deleted on Meshy's server" and time.monotonic() < deadline:
        k.drain(eng, timeout=0.05)
    assert eng.get(other).state == "imported", "the import stays; only the server copy is gone"
    eng.mark_importing(other)  # import again from the files on disk still works
    assert eng.get(other).state == "importing"
    assert k.server.stats()["requests_by_route"]["delete"] == 2


def test_task_deleted_on_the_server_while_watched(kit):
    k = kit(task_seconds=30)
    eng = k.engine()
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "pending", "in_progress")
    client_factory(k.server)().delete("image-to-3d", view.task_id)
    view = k.wait(eng, job_id, "error", "canceled")  # Meshy ends a running task deleted this way as CANCELED
    assert "no longer exists on Meshy" in view.error or "canceled on Meshy's server" in view.error
    assert not eng.has_active()


def test_validation_happens_at_once_and_writes_nothing(kit):
    k = kit()
    eng = k.engine()
    bad = [
        spec(options={"texture_prompt": "x" * 601}),
        spec(options={"target_polycount": 50}),
        spec(options={"ai_model": "meshy-5", "hd_texture": True}),
        spec(options={"should_texture": False, "enable_pbr": True}),
        spec(options={"no_such_option": 1}),
        spec(5),
        spec(0, kind="multi-image-to-3d"),
        spec(0, kind="image-to-3d"),
        spec(images=[UploadImage("empty.png", "image/png", b"")]),
        spec(images=[UploadImage("x.webp", "image/webp", b"RIFF")]),
        spec(kind="text-to-3d"),
        spec(input_task_id="abc"),  # an image and an input task: one too many
    ]
    for s in bad:
        with pytest.raises(ValidationError) as info:
            eng.submit(s)
        assert info.value.user_message
    assert not list(k.journal_dir.glob("*.json")) and eng.jobs() == []
    assert k.server.stats()["requests"] == 0


def test_journal_never_holds_the_key_or_image_bytes(kit):
    k = kit()
    eng = k.engine()
    image = png(64, 64, (1, 2, 3, 255))
    texture_ref = png(16, 16, (9, 9, 9, 255))
    job_id = eng.submit(JobSpec("image-to-3d", [UploadImage("secret.png", "image/png", image)],
                                options={"texture_image_url": "data:image/png;base64,"
                                         + base64.b64encode(texture_ref).decode()}))
    view = k.wait(eng, job_id, "ready")
    eng.mark_imported(job_id, ["A"], "")
    blobs = [p.read_bytes() for p in k.journal_dir.rglob("*") if p.is_file()]
    assert blobs
    needles = [KEY.encode(), image, base64.b64encode(image), texture_ref, base64.b64encode(texture_ref),
               base64.b64encode(image)[:40], b"data:image"]
    for blob in blobs:
        for needle in needles:
            assert needle not in blob
    folder = k.library_dir.resolve() / view.folder.rsplit("/", 1)[-1]
    assert (folder / "option_texture_image_url.png").read_bytes() == texture_ref


def test_bad_key_and_no_credits_give_clear_errors(kit):
    k = kit(keys={"msy_poor_account_key_000000000000": 3})
    eng = k.engine(key="msy_not_a_valid_key_at_all_0000000000")
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "error")
    assert "API key" in view.error and KEY not in view.error
    poor = k.engine(key="msy_poor_account_key_000000000000")
    job_id = poor.submit(spec())
    view = k.wait(poor, job_id, "error")
    assert "credits" in view.error
    assert k.server.stats()["creates"] == 0


def test_server_unreachable_gives_a_clear_error(kit, tmp_path):
    k = kit()
    k.server.stop()
    eng = k.engine()
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "error")
    assert view.error and view.task_id is None
    assert eng.resubmit(job_id) != job_id  # the user may try again on purpose


def test_faults_on_every_phase_still_end_ready(kit):
    k = kit(task_seconds=1.0)
    # create: 5xx and rate limits (retried by the client), one answer lost after the task was made
    k.server.set_faults(http_5xx=2, rate_limit=2, retry_after=0, reset_after_send=1)
    eng = k.engine()
    ids = [eng.submit(spec(label=f"j{i}")) for i in range(2)]
    for job_id in ids:
        k.wait(eng, job_id, "pending", "in_progress")
    # watch and download: resets, dropped streams, truncated downloads
    k.server.set_faults(reset_connections=3, stream_drop_after=1, stream_drops=3, truncate_downloads=3)
    for job_id in ids:
        view = k.wait(eng, job_id, "ready", timeout=30)
        assert head(view.files["model"], 4) == b"glTF"
        assert not list(__import__("pathlib").Path(view.folder).rglob("*.part"))
    assert k.server.stats()["creates"] == 2, "the lost answer was reconciled, not resubmitted"
    assert len({eng.get(i).task_id for i in ids}) == 2


def test_uncertain_create_that_never_arrived_ends_unknown(kit):
    k = kit()
    k.server.set_faults(reset_connections=1)  # the connection dies before Meshy acts on the create
    eng = k.engine()
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "unknown")
    assert "Submit again" in view.error and view.task_id is None
    assert k.server.stats()["creates"] == 0, "never resubmitted on its own"
    assert k.server.stats()["requests_by_route"]["list"] >= 1
    new_id = eng.resubmit(job_id)  # the user's explicit choice
    assert k.wait(eng, new_id, "ready").task_id
    assert k.server.stats()["creates"] == 1


def test_download_without_range_support(kit):
    k = kit()
    k.server.set_faults(no_range=True, truncate_downloads=1)
    eng = k.engine()
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "ready")
    assert head(view.files["model"], 4) == b"glTF"


def test_expired_links_end_as_expired(kit):
    k = kit()
    client = client_factory(k.server)()
    task_id = client.create("image-to-3d", {"image_url": "data:image/png;base64," + base64.b64encode(png()).decode()})
    k.server.set_task(task_id, expires_at=int(time.time() * 1000) - 60_000)
    eng = k.engine()
    job_id = eng.follow("image-to-3d", task_id)
    view = k.wait(eng, job_id, "expired")
    assert "expired" in view.error and "3 days" in view.error


def test_import_failure_then_retry_emits_ready_again(kit):
    k = kit()
    eng = k.engine()
    job_id = eng.submit(spec())
    k.wait(eng, job_id, "ready")
    eng.mark_importing(job_id)
    eng.mark_import_failed(job_id, "The GLB file is damaged")
    view = eng.get(job_id)
    assert view.state == "error" and view.error == "The GLB file is damaged"
    requests = k.server.stats()["requests"]
    k.drain(eng)
    eng.retry_download(job_id)
    events = k.drain(eng)
    assert [e.ready for e in events] == [True] and eng.get(job_id).state == "ready"
    assert k.server.stats()["requests"] == requests, "files on disk: no network needed"
    with pytest.raises(ValueError):
        eng.resubmit(job_id)  # it is ready, not failed


def test_retry_download_after_files_vanished(kit):
    k = kit()
    eng = k.engine()
    job_id = eng.submit(spec())
    view = k.wait(eng, job_id, "ready")
    eng.mark_import_failed(job_id, "boom")
    for path in [view.files["model"], view.files["thumbnail"], *view.files["textures"].values()]:
        __import__("os").unlink(path)
    eng.retry_download(job_id)
    view = k.wait(eng, job_id, "ready")
    assert head(view.files["model"], 4) == b"glTF"
    assert k.server.stats()["creates"] == 1


def test_resubmit_failed_job_and_remove(kit):
    k = kit()
    eng = k.engine()
    job_id = eng.submit(spec(options={"texture_prompt": "[fail:image_too_complex]"}, label="Chair"))
    old = k.wait(eng, job_id, "failed")
    new_id = eng.resubmit(job_id)
    new = k.wait(eng, new_id, "failed")
    assert new.task_id != old.task_id and new.input_names == old.input_names and new.label == "Chair"
    assert journal_record(k, new_id)["resubmitted_from"] == job_id
    assert (k.library_dir.resolve() / new.folder.rsplit("/", 1)[-1] / "input_0.png").read_bytes() == png(8, 8)
    assert k.server.stats()["creates"] == 2

    eng.remove(job_id)
    assert eng.get(job_id) is None and [v.id for v in eng.jobs()] == [new_id]
    assert not (k.journal_dir / f"{job_id}.json").exists()
    assert (k.journal_dir / "archive" / f"{job_id}.json").exists()
    assert (k.library_dir.resolve() / old.folder.rsplit("/", 1)[-1] / "input_0.png").exists(), "files kept"


def test_remove_an_active_job(kit):
    k = kit(task_seconds=30)
    eng = k.engine()
    job_id = eng.submit(spec())
    k.wait(eng, job_id, "pending", "in_progress")
    eng.remove(job_id)
    assert eng.get(job_id) is None and not eng.has_active()
    eng.shutdown(wait=True)
    archived = (k.journal_dir / "archive" / f"{job_id}.json").read_text()
    assert '"state": "canceled"' in archived
    assert not (k.journal_dir / f"{job_id}.json").exists(), "a late worker write must not bring it back"


def _server_thread(t: threading.Thread) -> bool:
    return "process_request" in t.name or "serve_forever" in t.name


def test_poll_events_never_blocks_and_shutdown_leaves_no_threads(kit):
    k = kit(task_seconds=30)
    before = set(meshy_threads())
    everything = set(threading.enumerate())
    eng = k.engine()
    t0 = time.perf_counter()
    for _ in range(100):
        assert eng.poll_events() == []
    assert time.perf_counter() - t0 < 0.05
    t0 = time.perf_counter()
    assert eng.poll_events(timeout=0.1) == []
    assert 0.08 <= time.perf_counter() - t0 < 1.0
    ids = [eng.submit(spec()) for _ in range(3)]
    for job_id in ids:
        k.wait(eng, job_id, "in_progress", "pending")
    assert eng.poll_events(max_events=0) == []
    t0 = time.monotonic()
    eng.shutdown(wait=True)
    assert time.monotonic() - t0 < 3
    assert set(meshy_threads()) <= before
    deadline = time.monotonic() + 2  # the client's stream aborters notice the closed stream within 0.1 s
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in everything and not _server_thread(t)]
        if not extra:
            break
        time.sleep(0.05)
    assert not extra, f"threads left after shutdown: {extra}"
    assert all(journal_record(k, i)["state"] in ("pending", "in_progress") for i in ids), "kept for recovery"
    with pytest.raises(RuntimeError):
        eng.submit(spec())

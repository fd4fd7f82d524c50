"""A job canceled while its create request is on the wire: the task may exist and is paid for.

The create's answer is lost (the connection dies after Meshy made the task) and Meshy's task
list cannot be read at first: the canceled job must still find its task (in this session, or
after a restart), never create it again, and refuse "Submit again" until the answer is known.
Real HTTP against the local Meshy-compatible server.
"""

from __future__ import annotations

import time

import pytest
from test_engine import spec
from test_engine_support import journal_record

from meshy_blender.jobs import JobError, remote


def _until(kit, eng, what, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not what():
        kit.drain(eng, timeout=0.05)
        assert time.monotonic() < deadline, "timed out"


def _cancel_mid_create(k):
    """A job whose create lands on Meshy, loses its answer, and is canceled meanwhile; the list fails."""
    k.server.set_faults(slow_ms=400, reset_after_send=1, list_5xx=10_000)
    eng = k.engine()
    job_id = eng.submit(spec())
    k.wait(eng, job_id, "submitting")
    eng.cancel(job_id)
    view = eng.get(job_id)
    assert view.state == "canceled" and view.phase == remote.CHECKING_PHASE
    _until(k, eng, lambda: k.server.stats()["creates"] == 1 and k.server.stats()["requests_by_route"]["list"] >= 2)
    assert eng.get(job_id).task_id is None, "Meshy's list could not be read: the task is not known yet"
    assert journal_record(k, job_id)["unreconciled"] is True
    return eng, job_id


def test_canceled_while_submitting_finds_its_paid_task(kit):
    k = kit()
    eng, job_id = _cancel_mid_create(k)
    with pytest.raises(JobError, match="still checking"):
        eng.resubmit(job_id)  # would pay a second time for a task that may exist
    with pytest.raises(JobError, match="still checking"):
        eng.retry_download(job_id)
    k.server.set_faults(list_5xx=0, slow_ms=0)
    _until(k, eng, lambda: journal_record(k, job_id)["unreconciled"] is False)
    view = eng.get(job_id)
    assert view.state == "canceled" and view.phase == remote.FOUND_PHASE
    record = journal_record(k, job_id)
    assert record["task_id"] == view.task_id and record["unreconciled"] is False
    eng.retry_download(job_id)  # the user follows the task after all: no second create
    assert k.wait(eng, job_id, "ready").task_id == view.task_id
    assert k.server.stats()["creates"] == 1


def test_canceled_while_submitting_is_looked_for_again_after_a_restart(kit):
    k = kit()
    eng, job_id = _cancel_mid_create(k)
    eng.shutdown(wait=True)
    assert journal_record(k, job_id)["unreconciled"] is True
    k.server.set_faults(list_5xx=0, slow_ms=0)
    eng2 = k.engine()
    assert eng2.recover() == [], "a canceled job is not carried on, only looked for"
    _until(k, eng2, lambda: journal_record(k, job_id)["unreconciled"] is False)
    assert eng2.get(job_id).task_id is not None
    assert eng2.get(job_id).state == "canceled"
    assert journal_record(k, job_id)["unreconciled"] is False
    assert k.server.stats()["creates"] == 1


def test_canceled_while_submitting_with_nothing_created_says_so(kit):
    k = kit()
    k.server.set_faults(slow_ms=400, reset_connections=1)  # dies before Meshy acts on the create
    eng = k.engine()
    job_id = eng.submit(spec())
    k.wait(eng, job_id, "submitting")
    eng.cancel(job_id)
    _until(k, eng, lambda: journal_record(k, job_id)["unreconciled"] is False)
    assert eng.get(job_id).phase == remote.NOT_SENT_PHASE and eng.get(job_id).task_id is None
    assert k.server.stats()["creates"] == 0
    new_id = eng.resubmit(job_id)  # safe now: nothing was made
    assert k.wait(eng, new_id, "ready").task_id
    assert k.server.stats()["creates"] == 1


def test_delete_of_a_job_canceled_while_submitting_deletes_the_found_task(kit):
    k = kit()
    eng, job_id = _cancel_mid_create(k)
    eng.delete_remote(job_id)
    k.server.set_faults(list_5xx=0, slow_ms=0)
    _until(k, eng, lambda: journal_record(k, job_id)["unreconciled"] is False
           and journal_record(k, job_id)["phase"] == "Deleted on Meshy's server")
    time.sleep(0.3)  # the other look (the cancel's) must not undo what the delete said
    assert eng.get(job_id).phase == "Deleted on Meshy's server"
    assert k.server.stats()["requests_by_route"]["delete"] == 1

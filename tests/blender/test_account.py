"""Account look-ups (balance, history) in real Blender: they run on the engine's threads and only
the pump, on the main thread, writes what the panel draws; a failure is told like any problem."""

from __future__ import annotations

import threading
import time

import bpy
from workflow_support import pump_until


def test_balance_answer_is_applied_by_the_pump_on_the_main_thread(meshy):
    account = meshy.runtime.account
    account["balance"] = None
    writers = []
    meshy.runtime.account = _Watched(account, writers)
    try:
        assert bpy.ops.meshy.refresh_balance() == {"FINISHED"}
        eng = meshy.runtime.engine()
        assert eng.looking_up("balance") and meshy.pump.has_work(eng), "the pump keeps going until it is answered"
        deadline = time.monotonic() + 10
        while meshy.server.stats()["requests_by_route"]["balance"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        assert account["balance"] is None, "no worker thread writes what the panel draws"
        pump_until(meshy, lambda: account["balance"] is not None)
    finally:
        meshy.runtime.account = account
    assert account["balance"] == meshy.server.test_balance() and account["balance_error"] == ""
    assert writers and all(name == threading.main_thread().name for name in writers)
    assert not meshy.pump.has_work(eng) and not eng.looking_up()


def test_failed_history_is_told_in_the_status_bar_and_drawn_in_the_panel(meshy, monkeypatch):
    monkeypatch.setenv("MESHY_API_KEY", "msy-wrong-key-0123456789")
    account = meshy.runtime.account
    account.update(history=None, history_error="")
    meshy.report.reports.clear()
    assert bpy.ops.meshy.refresh_history() == {"FINISHED"}
    pump_until(meshy, lambda: account["history_error"])
    assert "API key" in account["history_error"] and account["history"] is None
    told = [text for level, text in meshy.report.reports if level == "ERROR"]
    assert any("Account History" in text and "API key" in text for text in told), told


class _Watched(dict):
    """The account dict, noting the thread of every write (the real dict stays the one the panel reads)."""

    def __init__(self, real, writers):
        super().__init__()
        self.real, self.writers = real, writers

    def __getitem__(self, key):
        return self.real[key]

    def get(self, key, default=None):
        return self.real.get(key, default)

    def update(self, *args, **kw):
        self.writers.append(threading.current_thread().name)
        self.real.update(*args, **kw)

    def __setitem__(self, key, value):
        self.writers.append(threading.current_thread().name)
        self.real[key] = value

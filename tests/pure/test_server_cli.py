"""The local server's command line offers every fault tests inject (demo.py and batch.py start it by its CLI)."""

from __future__ import annotations

from scripts.meshy_server.cli import build_parser
from scripts.meshy_server.faults import FAULT_DEFAULTS


def test_every_fault_has_a_flag_with_its_default():
    args = build_parser().parse_args([])
    for name, default in FAULT_DEFAULTS.items():
        assert hasattr(args, name), f"no --{name.replace('_', '-')} flag"
        assert getattr(args, name) == default, name

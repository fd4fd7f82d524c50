"""scripts/bench.py's report writer: PASS/MISS and "missed by how much" are stated correctly (no measuring)."""

from scripts import bench


def test_verdict_compares_in_the_right_direction():
    assert bench.verdict(2.0, "<=", 2.0) == "PASS"
    assert bench.verdict(2.01, "<=", 2.0) == "MISS"
    assert bench.verdict(0.8, ">=", 0.8) == "PASS"
    assert bench.verdict(0.79, ">=", 0.8) == "MISS"
    assert bench.verdict(None, "<=", 1.0) == "n/a"
    assert bench.verdict(3.0, None, None) == "-"


def test_report_lists_figures_and_says_how_far_a_miss_is():
    figures = [
        bench.Figure(1, "pump step max", 3.0, "ms", "<=", 2.0, why="GIL waits."),
        bench.Figure(4, "download / curl", 0.9, "x", ">=", 0.8),
        bench.Figure(4, "throughput ratio low", 0.4, "x", ">=", 0.8, digits=2),
    ]
    text = bench.render_report({"CPU": "test"}, {"Python": "3.11"}, figures, {1: "Pump", 4: "Download"},
                               {1: "timed"}, {"x": 1}, 60.0)
    assert "| 1 | pump step max | 3 ms | <= 2 ms | MISS |" in text
    assert "| 4 | download / curl | 0.9 x | >= 0.8 x | PASS |" in text
    assert "1 ms over the target (1.50x the target). GIL waits." in text
    assert "0.4 x under the target (0.50x the target)" in text
    assert "1 PASS, 2 MISS" in text
    assert "## 1. Pump" in text and "How: timed" in text

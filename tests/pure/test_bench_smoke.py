"""scripts/bench.py's report writer and parsers: PASS/MISS and "missed by how much" are stated correctly,
the measurement scripts' JSON becomes the right figures (canned JSON, no measuring)."""

from scripts import bench, bench_common, bench_library, bench_main_thread


def test_verdict_compares_in_the_right_direction():
    assert bench_common.verdict(2.0, "<=", 2.0) == "PASS"
    assert bench_common.verdict(2.01, "<=", 2.0) == "MISS"
    assert bench_common.verdict(0.8, ">=", 0.8) == "PASS"
    assert bench_common.verdict(0.79, ">=", 0.8) == "MISS"
    assert bench_common.verdict(None, "<=", 1.0) == "n/a"
    assert bench_common.verdict(3.0, None, None) == "-"


def test_report_lists_figures_and_says_how_far_a_miss_is():
    figures = [
        bench_common.Figure(1, "pump step max", 3.0, "ms", "<=", 2.0, why="GIL waits."),
        bench_common.Figure(4, "download / curl", 0.9, "x", ">=", 0.8),
        bench_common.Figure(4, "throughput ratio low", 0.4, "x", ">=", 0.8, digits=2),
    ]
    text = bench_common.render_report({"CPU": "test"}, {"Python": "3.11"}, figures, {1: "Pump", 4: "Download"},
                                      {1: "timed"}, {"x": 1}, 60.0, scope="Measured on Blender 4.2.23.")
    assert "| 1 | pump step max | 3 ms | <= 2 ms | MISS |" in text
    assert "| 4 | download / curl | 0.9 x | >= 0.8 x | PASS |" in text
    assert "1 ms over the target (1.50x the target). GIL waits." in text
    assert "0.4 x under the target (0.50x the target)" in text
    assert "1 PASS, 2 MISS" in text and "took 1.0 min. Measured on Blender 4.2.23." in text
    assert "## 1. Pump" in text and "How: timed" in text


def test_json_output_found_as_a_bench_line_or_as_the_last_printed_object():
    assert bench_common.parse_json_output('log\nBENCH-JSON {"a": 1}\nmore log') == {"a": 1}
    printed = 'Blender 4.5.15 (headless bpy module)\ninstalled x.zip\n{\n  "a": {\n    "b": 2\n  }\n}\n'
    assert bench_common.parse_json_output(printed) == {"a": {"b": 2}}
    assert bench_common.parse_json_output("Traceback (most recent call last):\n  boom") is None
    assert bench_common.parse_json_output('{"cut": [1, 2') is None


def test_sections_cover_issues_11_and_12_and_the_matrix_says_what_is_measured():
    assert set(bench.SECTIONS) == set(range(1, 11))
    m = bench.matrix()
    assert "4.2.23, 4.5.15" in m["tested"] and "5.2.3, 5.3.0" in m["tested"] and "_chroot" in m["tested"]
    assert m["measured"].startswith("4.2.23, 4.5.15") and m["not_measured"] == "5.2.3, 5.3.0"
    assert bench_common.HOST_VERSIONS == ("4.2.23", "4.5.15")
    assert (bench_common.OLDEST, bench_common.NEWEST) == ("4.2.23", "4.5.15")


def test_importtime_breakdown_keeps_the_add_on_and_what_it_pulls_in():
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:      5000 |       5000 | bpy",  # Blender's own start: not ours
        "import time:       300 |        300 |     urllib.parse",
        "import time:      1200 |       1500 |   bl_ext.user_default.meshy_blender.blender.ui",
        "import time:       100 |        100 |   bl_ext.user_default",
        "import time:       800 |       2400 | bl_ext.user_default.meshy_blender",
        "import time:       700 |        700 | json",  # imported later, by something else
    ])
    got = bench.parse_importtime(stderr, bench_common.MODULE)
    assert got == {"urllib.parse": 0.3, "bl_ext.user_default.meshy_blender.blender.ui": 1.2,
                   "bl_ext.user_default.meshy_blender": 0.8}


CONVERT = {
    "blender": "4.5.15", "file_mb": 65.8, "blend_mb": 40.1, "triangles": 1_000_000, "runs": 3,
    "bare_gltf_import_s": 1.5, "conversion_wall_s": 6.2, "converter_peak_mb": 1450.25,
    "bare_libraries_load_s": 0.02, "append_s": 0.031, "append_vs_bare_ratio": 0.0207,
    "bare_all_s": [1.5, 1.4, 1.6], "conversion_all_s": [6.2], "append_all_s": [0.031],
    "landing": {"triangles": 1_000_000, "pump_steps": 400, "longest_pump_step_max_s": 0.062,
                "downloaded_to_scene_median_s": 7.5, "longest_step_vs_bare_import_ratio": 0.0413},
}


def test_converter_section_targets_the_longest_step_and_its_ratio():
    figs = {f.name.split(", Blender")[0]: f for f in bench_main_thread.convert_figures("4.5.15", CONVERT)}
    step = figs["longest pump step while the model lands (append included)"]
    assert (step.value, step.unit, step.op, step.target, step.verdict) == (62.0, "ms", "<=", 50.0, "MISS")
    ratio = figs["longest pump step / bare glTF import"]
    assert (ratio.value, ratio.verdict) == (0.0413, "PASS")
    assert figs["converter peak memory"].value == 1450.2 and figs["converter peak memory"].op is None
    assert figs["append of model.blend on the main thread (now)"].value == 31.0
    assert figs["\"downloaded\" -> \"in the scene\" (conversion included)"].value == 7.5
    assert figs["bare glTF import on the main thread (before the converter)"].value == 1.5


def test_converter_section_survives_a_key_the_script_no_longer_prints():
    changed = {k: v for k, v in CONVERT.items() if k != "landing"}
    figs = bench_main_thread.convert_figures("4.2.23", changed)
    assert [f.verdict for f in figs if f.op] == ["n/a", "n/a"]


def test_upload_section_holds_each_size_to_its_own_target():
    raw = {"blender": "4.5.15", "max_size": 4096, "cases": [
        {"side": 4096, "main_thread_median_s": 0.08, "main_thread_runs_s": [0.08], "generate_median_s": 0.4,
         "worker_median_s": 0.5, "bytes": 2_000_000},
        {"side": 8192, "main_thread_median_s": 0.31, "main_thread_runs_s": [0.31], "generate_median_s": 1.6,
         "worker_median_s": 1.9, "bytes": 2_000_000},
    ]}
    figs = bench_main_thread.upload_figures("4.5.15", raw)
    assert [(f.target, f.verdict) for f in figs] == [(0.1, "PASS"), (0.3, "MISS")]


def test_heartbeat_section_reports_the_worst_run_against_0_1_s():
    def run(conv: float, fall: float) -> dict:
        return {"blender_version": "4.3.2", "data": {
            "heartbeat_converter": {"max_gap_s": conv, "beats": 500, "slowest_gaps": []},
            "heartbeat_fallback": {"max_gap_s": fall, "beats": 200}}}

    slow = run(0.12, 2.5)
    slow["data"]["heartbeat_converter"].update(landing_parts_s={"append_model": 0.11, "undo_push": 0.004},
                                               slowest_gaps=[{"gap_s": 0.12, "at_s": 9.5, "job": "converting"}])
    conv, fall = bench_main_thread.heartbeat_figures([run(0.07, 2.7), slow])
    assert (conv.value, conv.op, conv.target, conv.verdict) == (0.12, "<=", 0.1, "MISS")
    assert "append_model 0.11 s, undo_push 0.004 s" in conv.detail and "0.12 s at 9.5 s (converting" in conv.detail
    assert "Blender 4.3.2" in conv.name
    assert (fall.value, fall.op) == (2.7, None)
    assert [f.verdict for f in bench_main_thread.heartbeat_figures([])] == ["n/a", "-"]


def test_batch_section_holds_memory_disk_and_growth_to_their_targets():
    run = dict(models=10, creates=10, exit=0, peak_mb_by_kind={}, most_converters_at_once=2, library_mb=400,
               glb_mb=450, blend1_files=0, glb_files_left=0, wall_s=100.0, per_model_s=10.0)
    r = {"runs": [dict(run, photos=10, peak_tree_mb=1600, disk_over_glb=0.9),
                  dict(run, photos=30, peak_tree_mb=2100, disk_over_glb=1.7)]}
    figs = {f.name: f for f in bench_library.batch_figures(r)}
    assert figs["batch of 10 photos: peak memory of the process tree"].verdict == "PASS"
    assert figs["batch of 30 photos: peak memory of the process tree"].verdict == "MISS"
    assert figs["batch of 30 photos: library on disk / GLBs downloaded"].verdict == "MISS"
    growth = figs["batch peak memory: 30 photos over 10"]
    assert growth.value == round(2100 / 1600, 3) and growth.verdict == "MISS"
    assert "before (one library.blend): 2000 MB" in figs["batch of 10 photos: peak memory of the process tree"].detail


def test_asset_browser_section_reports_when_every_visible_preview_showed():
    r = {"asset_browser": {"all_visible_previews_s": [2.9, 3.9], "first_preview_s": [2.5, 3.5], "models": 100,
                           "visible_tiles_with_preview": 35, "blender": "4.3.2"}, "library": {}}
    (fig,) = bench_library.asset_browser_figures(r)
    assert fig.value == 3.9 and "35 visible tiles" in fig.detail and "4.3.2" in fig.name

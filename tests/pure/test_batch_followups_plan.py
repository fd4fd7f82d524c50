"""batch.py's follow-up flags (--then-remesh, --lods) and how a re-run knows what it already sent."""

from types import SimpleNamespace

import pytest

from meshy_blender.jobs import convert_worker as W
from meshy_blender.jobs.journal import JobRecord
from scripts import batch_followups as F


def test_counts_are_parsed_in_the_add_ons_range():
    assert F.polycount_range() == (100, 300_000)
    assert F.parse_counts("--lods", "50000, 10000,2_000") == [50_000, 10_000, 2_000]
    assert F.parse_counts("--then-remesh", "100") == [100]


@pytest.mark.parametrize(("text", "words"), [
    ("99", ["'99'", "from 100 to 300,000"]),
    ("300001", ["'300001'"]),
    ("1000,,300", ["separated by commas"]),
    ("", ["separated by commas"]),
    ("2.5", ["'2.5'", "whole number"]),
    ("1000,1000", ["given twice"]),
])
def test_bad_counts_say_what_is_wrong(text, words):
    with pytest.raises(ValueError) as err:
        F.parse_counts("--lods", text)
    assert str(err.value).startswith("--lods") and all(w in str(err.value) for w in words), str(err.value)


def test_what_each_model_gets_and_where_it_goes():
    assert F.wanted(None, []) == []
    assert F.wanted(2000, [1000, 300]) == [("remesh", 2000), ("LOD0", 1000), ("LOD1", 300)]
    assert F.key_of("chair.png", "LOD1") == "chair.png LOD1"
    assert F.catalog_of("shoot", "LOD0") == ["shoot", "LODs"] and F.catalog_of("shoot", "remesh") == ["shoot", "Remesh"]


def view(created, tag, source_task="t-1", n=2000, operation="remesh"):
    return SimpleNamespace(created=created, target={"tag": tag}, task_id=None,
                           lineage={"operation": operation, "source_task_id": source_task,
                                    "options": {"target_polycount": n}})


def test_a_follow_up_is_found_by_its_source_task_its_role_and_its_count():
    source = SimpleNamespace(task_id="t-1")
    first, again = view(1, "a.png remesh"), view(2, "a.png remesh")
    others = [view(3, "a.png LOD0"), view(4, "a.png remesh", source_task="t-2"), view(5, "a.png remesh", n=500),
              view(6, "a.png remesh", operation="retexture"), SimpleNamespace(created=7, target={"tag": "a.png"},
                                                                             lineage={}, task_id="t-1")]
    assert F.existing([again, first, *others], source, "a.png remesh", 2000) is again  # the latest
    assert F.existing(others[1:], source, "a.png remesh", 2000) is None
    assert F.existing(others, source, "a.png LOD0", 2000) is others[0]


def test_a_follow_ups_description_names_its_source_model():
    rec = JobRecord(id="j", kind="remesh", label="chair / remesh 2k", input_task_id="t-1", folder="/lib/x",
                    lineage={"operation": "remesh", "source_label": "chair", "source_task_id": "t-1"})
    assert W.request_for(rec).description.splitlines()[1] == "Remesh of chair (task t-1)"

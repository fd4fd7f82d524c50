"""The pure client's Remesh, Retexture, Rigging and Animation against the local server, over real HTTP."""

from __future__ import annotations

import pytest
from followup_kit import TEST_KEY, Glb, box_glb, fetch, model_uri, photo_task, png, png_uri

from meshy_blender.meshy import ALL_KINDS, ANIMATION, FOLLOWUP_KINDS, IMAGE_TO_3D, REMESH, RETEXTURE, RIGGING
from meshy_blender.meshy.client import MeshyClient, RetryPolicy
from meshy_blender.meshy.errors import NotFoundError, NotHumanoidError, ValidationError
from meshy_blender.meshy.followup_options import (
    FOLLOWUP_FIELDS,
    AnimationOptions,
    RemeshOptions,
    RetextureOptions,
    RiggingOptions,
    followup_options_from_dict,
)
from meshy_blender.meshy.followups import (
    ANIMATION_LIBRARY,
    AnimationResult,
    RigResult,
    check_action,
    check_source,
    result_urls,
    search_actions,
)
from meshy_blender.meshy.pricing import FOLLOWUP_CREDITS, followup_credits

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)


@pytest.fixture
def client(meshy_server):
    c = MeshyClient(TEST_KEY, meshy_server.url, retry=FAST)
    yield c
    c.close()


def sent(srv, task_id: str) -> dict:
    """The create body exactly as it arrived at the server."""
    return srv.tasks[task_id].derived["request"]


# --------------------------------------------------------------------------- creates


def test_each_create_carries_the_source_and_only_the_options_set(client, meshy_server):
    src = photo_task(meshy_server)
    source = client.retrieve(IMAGE_TO_3D, src)
    remesh = client.create_remesh(RemeshOptions(input_task_id=src, target_polycount=5000), source=source)
    assert sent(meshy_server, remesh) == {"input_task_id": src, "target_polycount": 5000}
    retex = client.create_retexture({"input_task_id": src, "text_style_prompt": "oak", "enable_pbr": True})
    assert sent(meshy_server, retex) == {"input_task_id": src, "text_style_prompt": "oak", "enable_pbr": True}
    rig = client.create_rigging(RiggingOptions(input_task_id=src), source=source, face_count=5000)
    assert sent(meshy_server, rig) == {"input_task_id": src}
    rig_task = client.watch(RIGGING, rig)
    anim = client.create_animation({"rig_task_id": rig, "action_id": 92, "post_process": {
        "operation_type": "change_fps", "fps": 24}}, source=rig_task)
    assert sent(meshy_server, anim) == {"rig_task_id": rig, "action_id": 92,
                                        "post_process": {"operation_type": "change_fps", "fps": 24}}
    flat = AnimationOptions(rig_task_id=rig, action_id=1, operation_type="fbx2usdz").to_payload()
    assert flat == {"rig_task_id": rig, "action_id": 1, "post_process": {"operation_type": "fbx2usdz"}}
    up = client.create(REMESH, RemeshOptions(model_url=model_uri(box_glb()), topology="quad"))
    assert sent(meshy_server, up) == {"model_url": model_uri(box_glb()), "topology": "quad"}


def test_results_are_parsed_and_credits_match_the_price_table(client, meshy_server):
    assert FOLLOWUP_CREDITS == {REMESH: 5, RETEXTURE: 10, RIGGING: 5, ANIMATION: 3}
    assert [followup_credits(k) for k in FOLLOWUP_KINDS] == [5, 10, 5, 3]
    with pytest.raises(ValueError, match="no price"):
        followup_credits(IMAGE_TO_3D)
    src = photo_task(meshy_server)
    tasks = {REMESH: client.create_remesh({"input_task_id": src, "target_polycount": 700}),
             RETEXTURE: client.create_retexture({"input_task_id": src, "text_style_prompt": "teal"}),
             RIGGING: client.create_rigging({"input_task_id": src})}
    tasks[ANIMATION] = client.create_animation({"rig_task_id": tasks[RIGGING], "action_id": 0})
    done = {kind: client.watch(kind, task_id) for kind, task_id in tasks.items()}
    for kind, task in done.items():
        assert task.succeeded and task.consumed_credits == followup_credits(kind)
    assert abs(Glb(fetch(done[REMESH].model_urls["glb"])).triangles - 700) <= 1
    assert result_urls(done[REMESH]) == done[REMESH].model_urls
    assert done[RETEXTURE].texture_urls[0].keys() == {"base_color"}
    rig = RigResult.from_task(done[RIGGING])
    assert rig is not None and rig.rigged_character_glb_url and rig.running_armature_glb_url
    assert set(rig.clips) == {"Walking", "Running"}
    assert Glb(fetch(rig.clips["Walking"])).json["animations"][0]["name"] == "Walking"
    assert "rigged_character_glb_url" in result_urls(done[RIGGING])
    anim = AnimationResult.from_task(done[ANIMATION])
    assert anim is not None and anim.animation_glb_url and not anim.processed_usdz_url
    assert Glb(fetch(anim.animation_glb_url)).json["animations"][0]["name"] == "Idle"
    assert RigResult.from_task(client.retrieve(REMESH, tasks[REMESH])) is None


def test_watch_follows_sse_progress_to_succeeded_then_list_and_delete(make_server):
    srv = make_server(task_seconds=1.0)
    with MeshyClient(TEST_KEY, srv.url, retry=FAST) as client:
        src = photo_task(srv)
        task_id = client.create_remesh({"input_task_id": src, "target_polycount": 400})
        seen = []
        polls = srv.stats()["requests_by_route"]["retrieve"]
        final = client.watch(REMESH, task_id, on_update=seen.append)
        assert final.succeeded and final.type == "remesh"
        assert any(t.status == "IN_PROGRESS" and 0 < t.progress < 100 for t in seen)
        routes = srv.stats()["requests_by_route"]
        assert routes["stream"] >= 1 and routes["retrieve"] == polls  # progress came over SSE, not polling
        assert [t.id for t in client.list_tasks(REMESH)] == [task_id]
        assert client.list_tasks(RETEXTURE) == []
        client.delete(REMESH, task_id)
        with pytest.raises(NotFoundError):
            client.retrieve(REMESH, task_id)


def test_a_non_humanoid_is_meshys_422_shown_as_such(client, meshy_server):
    wide = photo_task(meshy_server, w=80, h=40)
    with pytest.raises(NotHumanoidError) as err:
        client.create_rigging({"input_task_id": wide})
    assert err.value.status == 422 and "not a valid humanoid" in err.value.user_message
    assert "Pose estimation failed" in err.value.user_message and "biped" in err.value.user_message


def test_animation_library_from_the_server_and_searching_it(client):
    library = client.animation_library()
    assert library[0].action_id == 0 and library[0].name == "Idle" and library[0].category == "DailyActions"
    assert {a.action_id for a in library} == {a.action_id for a in ANIMATION_LIBRARY}
    assert [a.action_id for a in search_actions("walking woman")] == [1]
    assert {a.action_id for a in search_actions("run")} >= {5, 14, 16}
    assert [a.action_id for a in search_actions("92")] == [92]
    check_action(92, library)
    with pytest.raises(ValidationError, match="not in Meshy's animation library: pick one"):
        check_action(555, library)


# --------------------------------------------------------------------------- validation before paying


def refused(client, srv, kind, opts, message: str, **kw):
    """The create is refused before any request: the message names the rule and what to do."""
    before = srv.stats()["requests"]
    with pytest.raises(ValidationError) as err:
        client.create_followup(kind, opts, **kw)
    assert message in err.value.user_message, err.value.user_message
    assert srv.stats()["requests"] == before
    return err.value


GLB_URI = model_uri(box_glb())


@pytest.mark.parametrize(("kind", "opts", "message"), [
    (REMESH, {}, "set exactly one source"),
    (REMESH, {"input_task_id": "a", "model_url": GLB_URI}, "with both, Meshy would use input_task_id"),
    (REMESH, {"model_url": "https://example.com/chair.3dm"}, "not .3dm: export the model as GLB"),
    (REMESH, {"model_url": "data:model/gltf-binary;base64,AAAA"}, "must start with data:application/octet-stream"),
    (REMESH, {"model_url": "data:application/octet-stream;base64,!!!!"}, "not valid base64"),
    (REMESH, {"input_task_id": "a", "target_polycount": 99}, "between 100 and 300,000"),
    (REMESH, {"input_task_id": "a", "topology": "ngon"}, "must be one of"),
    (REMESH, {"input_task_id": "a", "decimation_mode": 2, "target_polycount": 5000}, "set either target_polycount"),
    (REMESH, {"input_task_id": "a", "decimation_mode": 7}, "between 1 and 4"),
    (REMESH, {"input_task_id": "a", "convert_format_only": True, "topology": "quad"}, "turn convert_format_only off"),
    (REMESH, {"input_task_id": "a", "resize_height": 1.0, "auto_size": True}, "set only one of resize_height"),
    (REMESH, {"input_task_id": "a", "resize_longest_side": -1.0}, "positive number of metres"),
    (REMESH, {"input_task_id": "a", "target_formats": ["gltf"]}, "choose from glb, fbx"),
    (RETEXTURE, {"input_task_id": "a"}, "write a text_style_prompt or give an image_style_url"),
    (RETEXTURE, {"input_task_id": "a", "text_style_prompt": "x", "image_style_url": png_uri()}, "set only one of"),
    (RETEXTURE, {"input_task_id": "a", "text_style_prompt": "x" * 601}, "at most 600 allowed"),
    (RETEXTURE, {"input_task_id": "a", "image_style_url": "https://example.com/s.webp"}, "not .webp: save it as PNG"),
    (RETEXTURE, {"input_task_id": "a", "image_style_url": "data:image/gif;base64,R0lG"}, "JPG or PNG only"),
    (RETEXTURE, {"input_task_id": "a", "text_style_prompt": "x", "ai_model": "meshy-5", "hd_texture": True},
     "only supported on meshy-6"),
    (RETEXTURE, {"input_task_id": "a", "text_style_prompt": "x", "ai_model": "meshy-5", "remove_lighting": False},
     "only supported on meshy-6"),
    (RIGGING, {"model_url": "https://example.com/hero.fbx"}, "takes .glb models here, not .fbx"),
    (RIGGING, {"model_url": model_uri(b"v 0 0 0\n")}, "rigs .glb models only"),
    (RIGGING, {"model_url": model_uri(box_glb(repeat=25_001))}, "remesh it first"),
    (RIGGING, {"input_task_id": "a", "height_meters": 0}, "positive number of metres"),
    (RIGGING, {"input_task_id": "a", "texture_image_url": "data:image/jpeg;base64,/9j/"}, "save the texture as PNG"),
    (ANIMATION, {"action_id": 0}, "rig the model first"),
    (ANIMATION, {"rig_task_id": "r"}, "pick an action from Meshy's animation library"),
    (ANIMATION, {"rig_task_id": "r", "action_id": -1}, "animation library"),
    (ANIMATION, {"rig_task_id": "r", "action_id": 0, "fps": 24}, "set operation_type to change_fps"),
    (ANIMATION, {"rig_task_id": "r", "action_id": 0, "operation_type": "change_fps", "fps": 50}, "24, 25, 30, 60"),
    (ANIMATION, {"rig_task_id": "r", "action_id": 0, "post_process": {"speed": 2}}, "unknown post_process"),
    (REMESH, {"input_task_id": "a", "height_meters": 2}, "unknown option(s) for remesh"),
])
def test_client_rules_refuse_before_sending(client, meshy_server, kind, opts, message):
    refused(client, meshy_server, kind, opts, message)


def test_source_task_kind_status_and_face_count_are_checked_before_sending(client, meshy_server):
    src = photo_task(meshy_server)
    retex = client.watch(RETEXTURE, client.create_retexture({"input_task_id": src, "text_style_prompt": "x"}))
    refused(client, meshy_server, RETEXTURE, {"input_task_id": retex.id, "text_style_prompt": "y"},
            "Retexture cannot start from a Retexture task", source=retex)
    photo = client.retrieve(IMAGE_TO_3D, src)
    refused(client, meshy_server, ANIMATION, {"rig_task_id": src, "action_id": 0},
            "rig the model first, then animate the rigging task", source=photo)
    refused(client, meshy_server, RIGGING, {"input_task_id": src}, "remesh it first", face_count=300_001)
    rig = client.watch(RIGGING, client.create_rigging({"input_task_id": src}))
    refused(client, meshy_server, RIGGING, {"input_task_id": rig.id}, "it is rigged already", source=rig)
    refused(client, meshy_server, REMESH, {"input_task_id": src}, "remesh the original model's task",
            source=client.watch(REMESH, client.create_remesh({"input_task_id": src})))
    meshy_server.set_task(src, status="IN_PROGRESS")
    refused(client, meshy_server, REMESH, {"input_task_id": src}, "is IN_PROGRESS, not finished",
            source=client.retrieve(IMAGE_TO_3D, src))
    check_source(RIGGING, "image-to-3d", "SUCCEEDED", 300_000)  # the limit itself is allowed
    check_source(REMESH, "multi-image-to-3d")  # not named by Meshy's pages: allowed, Meshy answers if not


def test_every_option_is_declared_once_with_meshys_name_default_and_limits():
    fields = FOLLOWUP_FIELDS
    assert set(fields) == set(FOLLOWUP_KINDS) and set(ALL_KINDS) == {IMAGE_TO_3D, "multi-image-to-3d", *fields}
    assert fields[REMESH]["target_polycount"].range == (100, 300_000)
    assert fields[REMESH]["target_polycount"].server_default == 30_000
    assert fields[REMESH]["target_formats"].values == ("glb", "fbx", "obj", "usdz", "blend", "stl", "3mf")
    assert fields[RETEXTURE]["text_style_prompt"].max_length == 600
    assert fields[RETEXTURE]["enable_original_uv"].server_default is None  # Meshy's docs and MCP disagree
    assert fields[RIGGING]["height_meters"].server_default == 1.7 and fields[RIGGING]["height_meters"].type is float
    assert fields[ANIMATION]["fps"].values == ("24", "25", "30", "60")
    assert fields[ANIMATION]["fps"].inactive_reason({"operation_type": "fbx2usdz"}) == "only with Change FPS"
    reason = fields[REMESH]["target_polycount"].inactive_reason({"decimation_mode": 2})
    assert reason == "Decimation Mode sets the count"
    for kind, table in fields.items():
        for name, spec in table.items():
            assert spec.kinds == (kind,) and spec.label and spec.description, name
    options = followup_options_from_dict(RETEXTURE, {"input_task_id": "t", "text_style_prompt": "x"})
    assert isinstance(options, RetextureOptions) and options.to_payload() == {"input_task_id": "t",
                                                                               "text_style_prompt": "x"}
    with pytest.raises(ValidationError, match="post_process"):
        followup_options_from_dict(REMESH, {"post_process": {"operation_type": "fbx2usdz"}})


def test_the_server_refuses_what_the_client_would_have_refused(client, meshy_server):
    """Sent anyway (a mapping passed straight to the API): Meshy's 400 comes back as a BadRequestError."""
    from followup_kit import call

    code, answer = call(meshy_server, "POST", "/openapi/v1/retexture", {"input_task_id": photo_task(meshy_server)})
    assert code == 400 and "text_style_prompt or image_style_url is required" in answer["message"]
    with pytest.raises(ValidationError):
        client.create(RETEXTURE, RiggingOptions(input_task_id="x"))  # options of another kind
    uri = png_uri(png(4, 4))
    task_id = client.create_rigging({"model_url": model_uri(box_glb()), "texture_image_url": uri})
    assert client.watch(RIGGING, task_id).succeeded

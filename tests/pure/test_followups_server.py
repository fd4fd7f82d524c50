"""The local server's Remesh, Retexture, Rigging and Animation APIs over real HTTP: rules, credits, outputs."""

from __future__ import annotations

import json
import urllib.request

import pytest
from followup_kit import (
    API,
    TEST_KEY,
    Glb,
    box_glb,
    call,
    create,
    fetch,
    finished,
    mean_rgb,
    model_uri,
    photo_task,
    png,
    png_uri,
)

PAID = "msy_paid_followups_key_0001"


@pytest.fixture
def srv(make_server):
    return make_server(keys={PAID: 100})


def rejected(srv, kind, body, status=400, key=TEST_KEY) -> str:
    code, answer = call(srv, "POST", f"{API}/{kind}", body, key)
    assert code == status, (code, answer)
    return answer["message"]


# --------------------------------------------------------------------------- Remesh


def test_remesh_triangle_count_follows_target_in_each_format(srv):
    src = photo_task(srv)
    task = finished(srv, "remesh", create(srv, "remesh", {"input_task_id": src, "target_polycount": 1500,
                                                            "target_formats": ["glb", "obj", "stl", "fbx"]}))
    assert task["type"] == "remesh" and task["status"] == "SUCCEEDED" and task["consumed_credits"] == 5
    assert set(task["model_urls"]) == {"glb", "obj", "stl", "fbx"} and "texture_urls" not in task
    glb = Glb(fetch(task["model_urls"]["glb"]))
    assert abs(glb.triangles - 1500) <= 15
    source = Glb(fetch(finished(srv, "image-to-3d", src)["model_urls"]["glb"]))
    assert source.triangles != glb.triangles
    assert glb.base_color_image() == source.base_color_image()  # Remesh keeps the model's texture
    stl = fetch(task["model_urls"]["stl"])
    assert int.from_bytes(stl[80:84], "little") == glb.triangles
    faces = [ln for ln in fetch(task["model_urls"]["obj"]).decode().splitlines() if ln.startswith("f ")]
    assert len(faces) == glb.triangles
    assert fetch(task["model_urls"]["fbx"]).startswith(b"MESHY_SERVER PLACEHOLDER")
    assert finished(srv, "remesh", create(srv, "remesh", {"input_task_id": src}))["model_urls"].keys() == {"glb"}


def test_remesh_raises_the_count_and_quads_make_a_quad_dominant_obj(srv):
    src = photo_task(srv)
    up = finished(srv, "remesh", create(srv, "remesh", {"input_task_id": src, "target_polycount": 12000}))
    assert abs(Glb(fetch(up["model_urls"]["glb"])).triangles - 12000) <= 2
    quad = finished(srv, "remesh", create(srv, "remesh", {"input_task_id": src, "target_polycount": 800,
                                                           "topology": "quad", "target_formats": ["obj"]}))
    faces = [ln.split()[1:] for ln in fetch(quad["model_urls"]["obj"]).decode().splitlines() if ln.startswith("f ")]
    quads = sum(len(f) == 4 for f in faces)
    assert 0.9 * 800 <= len(faces) <= 1.15 * 800 and quads > 0.8 * len(faces)


def test_remesh_decimation_mode_convert_only_and_resize(srv):
    src = photo_task(srv)
    source_tris = Glb(fetch(finished(srv, "image-to-3d", src)["model_urls"]["glb"])).triangles

    def tris(**opts):
        task = finished(srv, "remesh", create(srv, "remesh", {"input_task_id": src, **opts}))
        return Glb(fetch(task["model_urls"]["glb"]))

    ultra, low = tris(decimation_mode=1).triangles, tris(decimation_mode=4, target_polycount=30000).triangles
    assert abs(ultra - source_tris / 2) <= 2 and abs(low - source_tris / 16) <= 2  # it overrides the polycount
    assert tris(convert_format_only=True, target_polycount=200).triangles == source_tris
    ys = [p[1] for p in tris(target_polycount=1000, resize_height=2.0, origin_at="bottom").positions()]
    assert min(ys) == pytest.approx(0.0, abs=1e-5) and max(ys) == pytest.approx(2.0, abs=1e-4)


def test_remesh_of_an_uploaded_model_and_what_fails(srv, make_server):
    box = finished(srv, "remesh", create(srv, "remesh", {"model_url": model_uri(box_glb()), "target_polycount": 300}))
    assert box["status"] == "SUCCEEDED" and abs(Glb(fetch(box["model_urls"]["glb"])).triangles - 300) <= 1
    obj = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n"
    flat = finished(srv, "remesh", create(srv, "remesh", {"model_url": model_uri(obj), "target_polycount": 100}))
    assert abs(Glb(fetch(flat["model_urls"]["glb"])).triangles - 100) <= 1
    # The server cannot read FBX: the task fails like Meshy's format_conversion_failed, and is refunded.
    fbx = model_uri(b"Kaydara FBX Binary  \x00\x1a\x00" + bytes(64))
    task = finished(srv, "remesh", create(srv, "remesh", {"model_url": fbx}, key=PAID), key=PAID)
    assert task["status"] == "FAILED" and task["task_error"]["code"] == "format_conversion_failed"
    assert task["task_error"]["type"] == "invalid_input" and task["consumed_credits"] == 0
    assert call(srv, "GET", f"{API}/balance", key=PAID)[1]["balance"] == 100


@pytest.mark.parametrize(("body", "message"), [
    ({}, "input_task_id or model_url is required"),
    ({"model_url": "http://127.0.0.1:1/chair.3dm"}, "Invalid model file extension: .3dm"),
    ({"model_url": "http://127.0.0.1:1/chair.glb"}, "Unreachable URL in model_url"),
    ({"model_url": "data:image/png;base64,AAAA"}, "data:application/octet-stream;base64"),
    ({"model_url": model_uri(b"not a model at all")}, "Invalid model file"),
    ({"input_task_id": "00000000-0000-0000-0000-000000000000"}, "must refer to a successful task"),
    ({"model_url": "M", "target_polycount": 99}, "between 100 and 300,000"),
    ({"model_url": "M", "target_polycount": 300_001}, "between 100 and 300,000"),
    ({"model_url": "M", "topology": "ngon"}, "Invalid topology"),
    ({"model_url": "M", "decimation_mode": 5}, "Invalid decimation_mode"),
    ({"model_url": "M", "target_formats": ["gltf"]}, "unsupported format"),
    ({"model_url": "M", "resize_height": 1.0, "auto_size": True}, "mutually exclusive"),
    ({"model_url": "M", "resize_height": 1.0, "resize_longest_side": 2.0}, "mutually exclusive"),
])
def test_remesh_request_rules(srv, body, message):
    if body.get("model_url") == "M":
        body = {**body, "model_url": model_uri(box_glb())}
    assert message in rejected(srv, "remesh", body)
    assert srv.stats()["tasks"] == 0


def test_each_operation_takes_only_its_documented_sources(srv):
    src = photo_task(srv)
    remeshed = create(srv, "remesh", {"input_task_id": src, "target_polycount": 500})
    retextured = create(srv, "retexture", {"input_task_id": src, "text_style_prompt": "red"})
    rig = create(srv, "rigging", {"input_task_id": src})
    assert "must refer to a successful task" in rejected(srv, "remesh", {"input_task_id": remeshed})
    assert "must refer to a successful task" in rejected(srv, "retexture", {"input_task_id": retextured,
                                                                             "text_style_prompt": "x"})
    assert "must refer to a successful task" in rejected(srv, "rigging", {"input_task_id": rig})
    create(srv, "remesh", {"input_task_id": retextured})
    create(srv, "retexture", {"input_task_id": remeshed, "text_style_prompt": "blue"})
    srv.set_task(src, status="IN_PROGRESS")
    assert "must refer to a successful task" in rejected(srv, "remesh", {"input_task_id": src})
    other = "msy_other_account_key_0002"
    mine = photo_task(srv)
    srv.state.balances[other] = 50
    assert "must refer to a successful task" in rejected(srv, "remesh", {"input_task_id": mine}, key=other)


# --------------------------------------------------------------------------- Retexture


def test_retexture_paints_another_base_colour_from_the_prompt_or_the_style_image(srv):
    src = photo_task(srv)  # the photo is orange (200, 120, 60)
    source = Glb(fetch(finished(srv, "image-to-3d", src)["model_urls"]["glb"]))
    red = finished(srv, "retexture", create(srv, "retexture", {"input_task_id": src,
                                                                 "text_style_prompt": "glossy red lacquer"}))
    assert red["type"] == "retexture" and red["consumed_credits"] == 10
    assert red["text_style_prompt"] == "glossy red lacquer"
    assert set(red["model_urls"]) == {"glb", "obj", "mtl", "fbx", "stl", "usdz"}  # all but 3mf by default
    glb = Glb(fetch(red["model_urls"]["glb"]))
    assert glb.triangles == source.triangles
    r, g, b = mean_rgb(glb.base_color_image())
    assert r > 150 and g < 60 and b < 60 and mean_rgb(source.base_color_image()) != (r, g, b)
    assert fetch(red["texture_urls"][0]["base_color"]) == glb.base_color_image()
    blue = png_uri(png(8, 8, (20, 40, 220)))
    style = finished(srv, "retexture", create(srv, "retexture", {"input_task_id": src, "image_style_url": blue}))
    r, g, b = mean_rgb(Glb(fetch(style["model_urls"]["glb"])).base_color_image())
    assert b > 180 and r < 50


def test_retexture_pbr_maps_hd_and_meshy5(srv):
    src = photo_task(srv)
    pbr = finished(srv, "retexture", create(srv, "retexture", {"input_task_id": src, "text_style_prompt": "gold",
                                                                 "enable_pbr": True, "hd_texture": True}))
    assert set(pbr["texture_urls"][0]) == {"base_color", "metallic", "roughness", "normal", "emission"}
    glb = Glb(fetch(pbr["model_urls"]["glb"]))
    material = glb.json["materials"][0]
    assert {"metallicRoughnessTexture", "baseColorTexture"} <= set(material["pbrMetallicRoughness"])
    assert "normalTexture" in material and "emissiveTexture" in material
    assert int.from_bytes(glb.base_color_image()[16:20], "big") == 4096
    five = finished(srv, "retexture", create(srv, "retexture", {"input_task_id": src, "text_style_prompt": "gold",
                                                                  "enable_pbr": True, "ai_model": "meshy-5"}))
    assert set(five["texture_urls"][0]) == {"base_color", "metallic", "roughness", "normal"}
    assert "emissiveTexture" not in Glb(fetch(five["model_urls"]["glb"])).json["materials"][0]
    assert int.from_bytes(fetch(five["texture_urls"][0]["base_color"])[16:20], "big") == 2048


def test_retexture_keeps_or_replaces_uvs_and_fails_without_them(srv):
    box = model_uri(box_glb())
    kept = finished(srv, "retexture", create(srv, "retexture", {"model_url": box, "text_style_prompt": "oak",
                                                                  "enable_original_uv": True}))
    new = finished(srv, "retexture", create(srv, "retexture", {"model_url": box, "text_style_prompt": "oak"}))

    def uvs(task):
        glb = Glb(fetch(task["model_urls"]["glb"]))
        return glb.accessor(glb.primitive["attributes"]["TEXCOORD_0"])

    assert uvs(kept) == pytest.approx([v for k in range(8) for v in ((k & 1) * 1.0, (k >> 1 & 1) * 1.0)])
    assert uvs(new) != uvs(kept)
    bare = finished(srv, "retexture", create(srv, "retexture", {"model_url": model_uri(box_glb(uvs=False)),
                                                                  "text_style_prompt": "oak",
                                                                  "enable_original_uv": True}, key=PAID), key=PAID)
    assert bare["status"] == "FAILED" and bare["task_error"]["code"] == "model_missing_uv"
    assert bare["consumed_credits"] == 0 and call(srv, "GET", f"{API}/balance", key=PAID)[1]["balance"] == 100


@pytest.mark.parametrize(("body", "message"), [
    ({}, "text_style_prompt or image_style_url is required"),
    ({"text_style_prompt": "x" * 601}, "maximum 600 characters"),
    ({"image_style_url": "http://127.0.0.1:1/style.webp"}, "Invalid file extension in image_style_url: .webp"),
    ({"image_style_url": "http://127.0.0.1:1/style.png"}, "Unreachable URL in image_style_url"),
    ({"text_style_prompt": "x", "ai_model": "meshy-4"}, "Invalid ai_model"),
    ({"text_style_prompt": "x", "ai_model": "meshy-5", "hd_texture": True}, "Invalid hd_texture"),
    ({"text_style_prompt": "x", "ai_model": "meshy-5", "remove_lighting": False}, "Invalid remove_lighting"),
    ({"text_style_prompt": "x", "target_formats": ["blend"]}, "unsupported format"),
])
def test_retexture_request_rules(srv, body, message):
    src = photo_task(srv)
    assert message in rejected(srv, "retexture", {"input_task_id": src, **body})


# --------------------------------------------------------------------------- Rigging


def test_rigging_gives_a_skinned_humanoid_with_walking_and_running(srv):
    src = photo_task(srv)
    task = finished(srv, "rigging", create(srv, "rigging", {"input_task_id": src, "height_meters": 2.0}))
    assert task["type"] == "rig" and task["consumed_credits"] == 5 and "model_urls" not in task
    result = task["result"]
    assert set(result["basic_animations"]) == {f"{c}_{f}" for c in ("walking", "running")
                                               for f in ("glb_url", "fbx_url", "armature_glb_url")}
    glb = Glb(fetch(result["rigged_character_glb_url"]))
    skin = glb.json["skins"][0]
    names = [glb.json["nodes"][j]["name"] for j in skin["joints"]]
    assert len(names) >= 20 and {"Hips", "Head", "LeftArm", "RightUpLeg", "LeftFoot"} <= set(names)
    attrs = glb.primitive["attributes"]
    joints, weights = glb.accessor(attrs["JOINTS_0"]), glb.accessor(attrs["WEIGHTS_0"])
    sums = [sum(weights[k : k + 4]) for k in range(0, len(weights), 4)]
    assert len(sums) == len(glb.positions()) and all(abs(s - 1) < 1e-4 for s in sums)
    main = {joints[k + max(range(4), key=lambda q: weights[k + q])] for k in range(0, len(weights), 4)}
    assert {names.index(n) for n in ("Head", "LeftUpLeg", "RightUpLeg", "Spine")} <= main  # real, spread weights
    ys = [p[1] for p in glb.positions()]
    assert min(ys) == pytest.approx(0, abs=1e-5) and max(ys) == pytest.approx(2.0, abs=1e-4)
    anims = {a["name"]: a for a in glb.json["animations"]}
    assert set(anims) == {"Walking", "Running"}
    for anim in anims.values():
        rotated = {glb.json["nodes"][c["target"]["node"]]["name"] for c in anim["channels"]
                   if c["target"]["path"] == "rotation"}
        assert {"LeftUpLeg", "RightUpLeg", "LeftArm"} <= rotated
        times = glb.accessor(anim["samplers"][0]["input"])
        assert times[0] == 0 and times[-1] > 0.5
    walking = Glb(fetch(result["basic_animations"]["walking_glb_url"]))
    assert [a["name"] for a in walking.json["animations"]] == ["Walking"] and walking.triangles == glb.triangles
    armature = Glb(fetch(result["basic_animations"]["running_armature_glb_url"]))
    assert "meshes" not in armature.json and [a["name"] for a in armature.json["animations"]] == ["Running"]
    assert fetch(result["rigged_character_fbx_url"]).startswith(b"MESHY_SERVER PLACEHOLDER")


def test_rigging_limits_face_count_humanoid_glb_only_png_texture(srv):
    huge = model_uri(box_glb(repeat=25_001))  # 300,012 faces
    assert "Face count exceeded" in rejected(srv, "rigging", {"model_url": huge})
    assert "Remesh it first" in rejected(srv, "rigging", {"model_url": huge})
    wide = photo_task(srv, w=80, h=40)
    assert "Pose estimation failed" in rejected(srv, "rigging", {"input_task_id": wide}, status=422)
    obj = model_uri(b"v 0 0 0\nv 1 0 0\nv 0 2 0\nf 1 2 3\n")
    assert "rigging takes .glb models only" in rejected(srv, "rigging", {"model_url": obj})
    src = photo_task(srv)
    jpeg = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2Q=="
    assert "texture_image_url" in rejected(srv, "rigging", {"input_task_id": src, "texture_image_url": jpeg})
    assert "height_meters" in rejected(srv, "rigging", {"input_task_id": src, "height_meters": 0})
    assert srv.stats()["tasks"] == 2  # the two photo tasks only: nothing refused was created or charged
    box = finished(srv, "rigging", create(srv, "rigging", {"model_url": model_uri(box_glb()),
                                                           "texture_image_url": png_uri(png(4, 4, (1, 2, 3)))}))
    assert Glb(fetch(box["result"]["rigged_character_glb_url"])).base_color_image() == png(4, 4, (1, 2, 3))


# --------------------------------------------------------------------------- Animation


def test_animation_clip_for_an_action_id_with_frame_rate_post_processing(srv):
    rig = create(srv, "rigging", {"input_task_id": photo_task(srv)})
    idle = finished(srv, "animations", create(srv, "animations", {"rig_task_id": rig, "action_id": 0}))
    assert idle["type"] == "animate" and idle["consumed_credits"] == 3
    assert set(idle["result"]) == {"animation_glb_url", "animation_fbx_url"}
    glb = Glb(fetch(idle["result"]["animation_glb_url"]))
    assert [a["name"] for a in glb.json["animations"]] == ["Idle"] and glb.json["skins"]
    times = glb.accessor(glb.json["animations"][0]["samplers"][0]["input"])
    assert times[1] == pytest.approx(1 / 30)
    fps = finished(srv, "animations", create(srv, "animations", {
        "rig_task_id": rig, "action_id": 92, "post_process": {"operation_type": "change_fps", "fps": 24}}))
    assert "processed_animation_fps_fbx_url" in fps["result"]
    glb = Glb(fetch(fps["result"]["animation_glb_url"]))
    assert glb.json["animations"][0]["name"] == "Double_Combo_Attack"
    assert glb.accessor(glb.json["animations"][0]["samplers"][0]["input"])[1] == pytest.approx(1 / 24)
    usdz = finished(srv, "animations", create(srv, "animations", {
        "rig_task_id": rig, "action_id": 1, "post_process": {"operation_type": "fbx2usdz"}}))
    assert "processed_usdz_url" in usdz["result"] and "processed_animation_fps_fbx_url" not in usdz["result"]


def test_animation_request_rules(srv):
    src = photo_task(srv)
    rig = create(srv, "rigging", {"input_task_id": src})
    assert "rig_task_id is required" in rejected(srv, "animations", {"action_id": 0})
    assert "action_id is required" in rejected(srv, "animations", {"rig_task_id": rig})
    assert "not in the animation library" in rejected(srv, "animations", {"rig_task_id": rig, "action_id": 9999})
    assert "Invalid action_id" in rejected(srv, "animations", {"rig_task_id": rig, "action_id": "0"})
    missing = "00000000-0000-7000-8000-000000000000"
    assert "Rig task not found" in rejected(srv, "animations", {"rig_task_id": missing, "action_id": 0}, 404)
    assert "successful rigging task" in rejected(srv, "animations", {"rig_task_id": src, "action_id": 0})
    for post, message in (({"fps": 30}, "operation_type is required"),
                          ({"operation_type": "slow_motion"}, "Invalid post_process.operation_type"),
                          ({"operation_type": "fbx2usdz", "fps": 24}, "only used with operation_type change_fps"),
                          ({"operation_type": "change_fps", "fps": 50}, "must be 24, 25, 30 or 60")):
        assert message in rejected(srv, "animations", {"rig_task_id": rig, "action_id": 0, "post_process": post})
    code, library = call(srv, "GET", "/web/public/animations/resources")
    assert code == 200 and {"action_id": 0, "name": "Idle"}.items() <= library[0].items()


# --------------------------------------------------------------------------- the task life


def test_credits_are_charged_per_operation_and_refunded_on_failure(srv):
    src = photo_task(srv, key=PAID)  # 30
    rig = create(srv, "rigging", {"input_task_id": src}, key=PAID)  # 5
    create(srv, "remesh", {"input_task_id": src}, key=PAID)  # 5
    tex = create(srv, "retexture", {"input_task_id": src, "text_style_prompt": "blue"}, key=PAID)  # 10
    create(srv, "animations", {"rig_task_id": rig, "action_id": 0}, key=PAID)  # 3
    assert call(srv, "GET", f"{API}/balance", key=PAID)[1]["balance"] == 100 - 30 - 5 - 5 - 10 - 3
    srv.set_task(tex, status="FAILED")
    assert finished(srv, "retexture", tex, key=PAID)["consumed_credits"] == 0
    assert call(srv, "GET", f"{API}/balance", key=PAID)[1]["balance"] == 57
    failing = create(srv, "retexture", {"input_task_id": src, "text_style_prompt": "x [fail:moderation_blocked]"},
                     key=PAID)
    task = finished(srv, "retexture", failing, key=PAID)
    assert task["status"] == "FAILED" and task["task_error"]["code"] == "moderation_blocked"
    srv.state.balances[PAID] = 4
    assert "Insufficient credits" in rejected(srv, "retexture", {"input_task_id": src, "text_style_prompt": "x"},
                                              402, key=PAID)


def test_stream_list_and_delete_of_each_kind(make_server):
    srv = make_server(task_seconds=1.0)
    src = photo_task(srv)
    bodies = {"remesh": {"input_task_id": src}, "retexture": {"input_task_id": src, "text_style_prompt": "x"},
              "rigging": {"input_task_id": src}}
    ids = {}
    for kind, body in bodies.items():  # each streamed right after its create, while it runs
        task_id = ids[kind] = create(srv, kind, body)
        req = urllib.request.Request(f"{srv.url}{API}/{kind}/{task_id}/stream",
                                     headers={"Authorization": f"Bearer {TEST_KEY}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            events = [json.loads(line[6:]) for line in r.read().decode().splitlines() if line.startswith("data: ")]
        running = [e for e in events if e["status"] in ("PENDING", "IN_PROGRESS")]
        assert running and all(set(e) <= {"id", "progress", "status", "preceding_tasks"} for e in running)
        assert events[-1]["status"] == "SUCCEEDED" and events[-1]["consumed_credits"] > 0
        assert ("result" in events[-1]) == (kind == "rigging")
    anim = create(srv, "animations", {"rig_task_id": ids["rigging"], "action_id": 0})
    ids["animations"] = anim
    for kind, task_id in ids.items():
        code, listed = call(srv, "GET", f"{API}/{kind}?page_size=50")
        assert code == 200 and [t["id"] for t in listed] == [task_id]
        assert call(srv, "DELETE", f"{API}/{kind}/{task_id}")[0] == 200
        assert call(srv, "GET", f"{API}/{kind}/{task_id}")[0] == 404
    req = urllib.request.Request(f"{srv.url}{API}/remesh/{ids['remesh']}/stream",
                                 headers={"Authorization": f"Bearer {TEST_KEY}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert "event: error" in r.read().decode()


def test_multi_image_tasks_and_hosted_files_are_sources_too(srv):
    """Multi-Image to 3D is not named by Meshy's pages (written before it existed): the server takes it."""
    multi = create(srv, "multi-image-to-3d", {"image_urls": [png_uri(png(30, 60)), png_uri(png(30, 60))]})
    assert finished(srv, "multi-image-to-3d", multi)["status"] == "SUCCEEDED"
    task = finished(srv, "remesh", create(srv, "remesh", {"input_task_id": multi, "target_polycount": 600}))
    assert abs(Glb(fetch(task["model_urls"]["glb"])).triangles - 600) <= 1
    style = srv.add_file("style.png", png(4, 4, (30, 200, 40)), "image/png")
    model = srv.add_file("hero.glb", box_glb(), "model/gltf-binary")
    tex = finished(srv, "retexture", create(srv, "retexture", {"model_url": model, "image_style_url": style}))
    r, g, b = mean_rgb(Glb(fetch(tex["model_urls"]["glb"])).base_color_image())
    assert g > 170 and r < 50 and b < 90 and tex["image_style_url"] == style
    rig = finished(srv, "rigging", create(srv, "rigging", {"model_url": model}))
    assert rig["status"] == "SUCCEEDED"

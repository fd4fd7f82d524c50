"""Request options: payloads carry only what was set; bad values fail before any network call."""

import base64

import pytest

from meshy_blender.meshy import IMAGE_TO_3D, MULTI_IMAGE_TO_3D, upload
from meshy_blender.meshy.errors import ValidationError
from meshy_blender.meshy.options import (
    GROUPS,
    OPTION_FIELDS,
    ImageTo3DOptions,
    MultiImageTo3DOptions,
    OptionField,
    TaskOptions,
    options_from_dict,
    panel_fields,
)
from meshy_blender.meshy.pricing import estimate_credits

URL = "https://example.com/chair.png"
PNG_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()


def rejects(opts, field, *words):
    with pytest.raises(ValidationError) as info:
        opts.to_payload()
    err = info.value
    assert err.field == field
    text = str(err)
    assert field in text
    for word in words:
        assert word in text, text
    return err


def test_payload_has_only_set_fields():
    assert ImageTo3DOptions(URL).to_payload() == {"image_url": URL}
    payload = ImageTo3DOptions(URL, ai_model="meshy-6", should_texture=False, target_polycount=5000,
                               topology="quad", target_formats=("glb", "glb", "3mf")).to_payload()
    assert payload == {"image_url": URL, "ai_model": "meshy-6", "should_texture": False,
                       "target_polycount": 5000, "topology": "quad", "target_formats": ["glb", "3mf"]}
    assert MultiImageTo3DOptions(image_urls=(URL, PNG_URI)).to_payload() == {"image_urls": [URL, PNG_URI]}


def test_every_documented_option_round_trips():
    opts = ImageTo3DOptions(
        URL, ai_model="latest", model_type="lowpoly", should_texture=True, enable_pbr=True,
        hd_texture=True, texture_prompt="oak", image_enhancement=False, remove_lighting=True,
        should_remesh=True, topology="triangle", target_polycount=100, save_pre_remeshed_model=True,
        symmetry_mode="on", pose_mode="", moderation=True, auto_size=True, origin_at="center",
        multi_view_thumbnails=True, alpha_thumbnail=True, target_formats=["stl"],
        webhook_url="https://hooks.example.com/x")
    payload = opts.to_payload()
    assert payload["pose_mode"] == ""  # empty string is a value, not "unset"
    assert len(payload) == 22
    assert set(payload) <= set(OPTION_FIELDS)


def test_image_inputs():
    rejects(ImageTo3DOptions(), "image_url", "exactly one")
    rejects(ImageTo3DOptions(URL, input_task_id="abc"), "image_url", "exactly one")
    assert ImageTo3DOptions(input_task_id="abc").to_payload() == {"input_task_id": "abc"}
    rejects(ImageTo3DOptions("ftp://x/y.png"), "image_url", "http(s)")
    rejects(ImageTo3DOptions("/tmp/a.png"), "image_url")
    rejects(ImageTo3DOptions("data:image/gif;base64,R0lGOD"), "image_url", "png")
    rejects(ImageTo3DOptions("data:image/png;base64,"), "image_url", "no image data")
    rejects(ImageTo3DOptions("data:image/png;base64,@@@@not-base64"), "image_url", "base64")
    assert ImageTo3DOptions("data:image/jpeg;base64,/9j/4AAQ").to_payload()
    rejects(MultiImageTo3DOptions(), "image_urls", "1 to 4")
    rejects(MultiImageTo3DOptions(image_urls=[]), "image_urls")
    rejects(MultiImageTo3DOptions(image_urls=[URL] * 5), "image_urls", "at most 4")
    rejects(MultiImageTo3DOptions(image_urls=[URL, "nope"]), "image_urls[1]")
    rejects(MultiImageTo3DOptions(image_urls=URL), "image_urls", "list")


def test_data_uri_size_limit_counts_the_uri_as_sent():
    """The safe reading of Meshy's "up to 100 MB": the whole data URI, 100 * 10^6 characters."""
    prefix = "data:image/png;base64,"
    body = "AAAA" * ((upload.MAX_DATA_URI_CHARS - len(prefix)) // 4)
    ImageTo3DOptions(prefix + body).validate()  # as long as fits: fine
    assert upload.fits("image/png", len(body) // 4 * 3)
    err = rejects(ImageTo3DOptions(prefix + body + "AAAA"), "image_url", "100 MB")
    assert "AAAA" not in str(err)  # never echo the data
    assert not upload.fits("image/png", len(body) // 4 * 3 + 3)


def test_upload_limit_is_one_definition():
    for mime in ("image/png", "image/jpeg"):
        largest = upload.max_file_bytes(mime)
        assert upload.fits(mime, largest) and not upload.fits(mime, largest + 1)
        assert upload.data_uri_length(mime, largest) <= 100_000_000 < upload.data_uri_length(mime, largest + 3)
    assert 74_000_000 < upload.max_file_bytes("image/jpeg") < 75 * 1000 * 1000  # ~71.5 MiB of file
    with pytest.raises(ValidationError, match=r"photo.*100 MB"):
        upload.check_image_size("photo", "image/png", 80 * 2**20)
    upload.check_image_size("photo", "image/png", 70 * 2**20)


def test_models():
    rejects(ImageTo3DOptions(URL, ai_model="meshy-4"), "ai_model", "retired")
    assert ImageTo3DOptions(URL, ai_model="meshy-7").to_payload()["ai_model"] == "meshy-7"  # new models pass
    rejects(ImageTo3DOptions(URL, ai_model=""), "ai_model")
    rejects(ImageTo3DOptions(URL, ai_model="meshy-5", hd_texture=True), "hd_texture", "meshy-6")
    rejects(ImageTo3DOptions(URL, ai_model="meshy-5", image_enhancement=False), "image_enhancement")
    rejects(ImageTo3DOptions(URL, ai_model="meshy-5", remove_lighting=False), "remove_lighting")
    # asking meshy-5 for the default is harmless
    ImageTo3DOptions(URL, ai_model="meshy-5", hd_texture=False, image_enhancement=True).validate()
    ImageTo3DOptions(URL, hd_texture=True).validate()  # server default model is latest


def test_texture_only_options_need_texturing():
    for name, value in [("enable_pbr", True), ("hd_texture", True), ("texture_prompt", "red"),
                        ("texture_image_url", URL), ("remove_lighting", True)]:
        rejects(ImageTo3DOptions(URL, should_texture=False, **{name: value}), name, "needs should_texture")
    ImageTo3DOptions(URL, should_texture=False, enable_pbr=False).validate()
    ImageTo3DOptions(URL, enable_pbr=True).validate()


def test_field_rules():
    rejects(ImageTo3DOptions(URL, texture_prompt="x" * 601), "texture_prompt", "600")
    ImageTo3DOptions(URL, texture_prompt="x" * 600).validate()
    rejects(ImageTo3DOptions(URL, texture_prompt="a", texture_image_url=URL), "texture_image_url", "not both")
    rejects(ImageTo3DOptions(URL, texture_image_url="file.png"), "texture_image_url")
    rejects(ImageTo3DOptions(URL, model_type="highpoly"), "model_type", "standard")
    rejects(ImageTo3DOptions(URL, topology="ngon"), "topology", "quad")
    rejects(ImageTo3DOptions(URL, target_polycount=99), "target_polycount", "100")
    rejects(ImageTo3DOptions(URL, target_polycount=300_001), "target_polycount", "300,000")
    rejects(ImageTo3DOptions(URL, target_polycount=True), "target_polycount")
    rejects(ImageTo3DOptions(URL, target_polycount=5000.0), "target_polycount")
    ImageTo3DOptions(URL, target_polycount=300_000).validate()
    rejects(ImageTo3DOptions(URL, symmetry_mode="yes"), "symmetry_mode")
    rejects(ImageTo3DOptions(URL, pose_mode="x-pose"), "pose_mode")
    rejects(ImageTo3DOptions(URL, should_texture="yes"), "should_texture", "true or false")
    rejects(ImageTo3DOptions(URL, origin_at="center"), "origin_at", "auto_size")
    rejects(ImageTo3DOptions(URL, auto_size=False, origin_at="center"), "origin_at")
    rejects(ImageTo3DOptions(URL, auto_size=True, origin_at="top"), "origin_at")
    rejects(ImageTo3DOptions(URL, target_formats=[]), "target_formats")
    rejects(ImageTo3DOptions(URL, target_formats=["gltf"]), "target_formats", "gltf")
    rejects(ImageTo3DOptions(URL, target_formats="glb"), "target_formats", "list")
    rejects(ImageTo3DOptions(URL, webhook_url="mailto:me@x"), "webhook_url")


def test_options_from_dict():
    opts = options_from_dict(IMAGE_TO_3D, {"image_url": URL, "enable_pbr": True})
    assert isinstance(opts, ImageTo3DOptions)
    assert opts.to_payload() == {"image_url": URL, "enable_pbr": True}
    multi = options_from_dict(MULTI_IMAGE_TO_3D, {"image_urls": [URL]})
    assert isinstance(multi, MultiImageTo3DOptions)
    with pytest.raises(ValidationError) as info:
        options_from_dict(IMAGE_TO_3D, {"image_url": URL, "colour": 1, "texure_prompt": "x"})
    assert "colour" in str(info.value) and "texure_prompt" in str(info.value)
    with pytest.raises(ValidationError, match="model_type"):
        options_from_dict(MULTI_IMAGE_TO_3D, {"image_urls": [URL], "model_type": "lowpoly"})
    with pytest.raises(ValidationError, match="pose_mode"):
        options_from_dict(IMAGE_TO_3D, {"image_url": URL, "is_a_t_pose": True})
    with pytest.raises(ValidationError, match="kind"):
        options_from_dict("text-to-3d", {})


def test_option_fields_metadata():
    assert isinstance(OPTION_FIELDS["topology"], OptionField)
    assert set(OPTION_FIELDS["topology"].allowed) == {"quad", "triangle"}
    assert OPTION_FIELDS["should_texture"].type is bool
    assert OPTION_FIELDS["target_formats"].type is list
    assert OPTION_FIELDS["target_polycount"].allowed == (100, 300_000)
    assert OPTION_FIELDS["model_type"].kinds == (IMAGE_TO_3D,)
    assert OPTION_FIELDS["image_urls"].kinds == (MULTI_IMAGE_TO_3D,)
    for spec in OPTION_FIELDS.values():
        assert spec.description and spec.label and spec.group in (*GROUPS, "input")
        assert spec.type in (bool, int, str, list)
        assert spec.range is None or spec.type is int
    import dataclasses
    names = {f.name for f in dataclasses.fields(ImageTo3DOptions)} | {
        f.name for f in dataclasses.fields(MultiImageTo3DOptions)}
    assert names == set(OPTION_FIELDS)
    assert issubclass(ImageTo3DOptions, TaskOptions) and issubclass(MultiImageTo3DOptions, TaskOptions)
    assert [f.name for f in panel_fields("remesh")] == [
        "should_remesh", "topology", "target_polycount", "save_pre_remeshed_model"]
    assert {f.group for f in panel_fields()} == set(GROUPS)


def test_model_type_is_for_single_images_only():
    rejects(MultiImageTo3DOptions(image_urls=[URL], model_type="lowpoly"), "model_type", "multi-image-to-3d")


def test_rules_say_when_an_option_applies():
    pbr, hd, origin = OPTION_FIELDS["enable_pbr"], OPTION_FIELDS["hd_texture"], OPTION_FIELDS["origin_at"]
    assert pbr.inactive_reason({}) == "" and pbr.inactive_reason({"should_texture": False}) == "needs Texture on"
    assert hd.inactive_reason({"ai_model": "meshy-5"}) == "Meshy 6 only"
    assert hd.inactive_reason({"ai_model": "Meshy-5"}) == "Meshy 6 only"
    assert hd.inactive_reason({"ai_model": "meshy-7"}) == ""
    assert origin.inactive_reason({}) and not origin.inactive_reason({"auto_size": True})
    polycount = OPTION_FIELDS["target_polycount"]
    assert polycount.inactive_reason({"should_remesh": None}) == ""
    assert polycount.inactive_reason({"should_remesh": False}) == "needs Remesh"
    # Remesh options are only greyed, never refused: Meshy ignores them without remeshing.
    ImageTo3DOptions(URL, should_remesh=False, target_polycount=5000).validate()
    assert OPTION_FIELDS["model_type"].inactive_reason({}, MULTI_IMAGE_TO_3D) == "single image only"


def test_estimate_credits():
    assert estimate_credits() == 30
    assert estimate_credits("latest", True) == 30
    assert estimate_credits("meshy-6", False) == 20
    assert estimate_credits("meshy-5", True) == 15
    assert estimate_credits("meshy-5", False) == 5
    assert estimate_credits("meshy-9", False) == 20

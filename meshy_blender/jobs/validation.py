"""Checks on what submit() and follow() are given, before anything is written or sent.

Everything that can be checked without the network is checked here, on the caller's thread, so a
bad input gets Meshy's own validation message at once (a ValidationError) and leaves no record.
"""

from __future__ import annotations

from typing import Any

from ..meshy import IMAGE_TO_3D, KINDS
from ..meshy.errors import ValidationError
from . import files as F
from .model import JobSpec

_PLACEHOLDER = "data:image/png;base64,iVBORw0KGgo="  # stands in for the real images while validating


def invalid(field: str, rule: str) -> ValidationError:
    return ValidationError(field, rule)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise invalid("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")


def checked_task_id(task_id: str) -> str:
    """A task id from the caller or the server's task list: never a path."""
    if not isinstance(task_id, str) or not task_id.strip() or "/" in task_id or "\\" in task_id:
        raise invalid("task_id", f"{task_id!r} is not a Meshy task id")
    return task_id.strip()


def validate(spec: JobSpec) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The options to journal and the option images to save (data URIs taken out); raises ValidationError."""
    from ..meshy.options import options_from_dict

    bad = invalid
    check_kind(spec.kind)
    options = dict(spec.options or {})
    attachments: dict[str, tuple[str, bytes]] = {}
    for key, value in list(options.items()):
        if isinstance(value, str) and value[:5].lower() == "data:":
            if key in ("image_url", "image_urls"):
                raise bad(key, "pass input images as UploadImage, not as data URIs in the options")
            parsed = F.parse_data_uri(value)
            if parsed is None or parsed[0] not in ("image/png", "image/jpeg"):
                raise bad(key, "must be a data:image/png|jpeg;base64, URI or an http(s) URL")
            attachments[key] = parsed
            del options[key]
    images = list(spec.images or [])
    url, urls = options.get("image_url"), options.get("image_urls")
    if spec.kind == IMAGE_TO_3D:
        if urls:
            raise bad("image_urls", "Image to 3D takes one image; use Multi-Image to 3D for several")
        count = len(images) + bool(spec.input_task_id) + bool(url)
        if count != 1:
            raise bad("images", f"Image to 3D takes exactly one input (one image, or the id of an "
                                f"earlier image task); {count} given")
    else:
        if spec.input_task_id or url:
            raise bad("input_task_id", "Multi-Image to 3D takes 1 to 4 images, not an input task id")
        if images and urls:
            raise bad("image_urls", "give the images either as files or as URLs, not both")
        n = len(images) or (len(urls) if isinstance(urls, list) else 0)
        if not 1 <= n <= 4:
            raise bad("images", f"Multi-Image to 3D takes 1 to 4 images; {n} given")
    from ..meshy.upload import check_image_size  # what Meshy counts: the data URI as sent

    for img in images:
        if (img.mime or "").lower() not in ("image/png", "image/jpeg", "image/jpg"):
            raise bad(img.name, f"is {img.mime or 'of unknown type'}; Meshy takes PNG or JPEG")
        if img.deferred:  # made on a worker; its size is checked there, before any create
            if img.data or not callable(img.encode):
                raise bad(img.name, "give an image either as bytes or as an encode callable, not both")
            continue
        if not img.data:
            raise bad(img.name, "the image is empty (0 bytes)")
        check_image_size(img.name, img.mime, len(img.data))
    for key, (mime, data) in attachments.items():
        check_image_size(key, mime, len(data))
    mapping = dict(options)
    mapping.update({k: _PLACEHOLDER for k in attachments})
    if images:
        if spec.kind == IMAGE_TO_3D:
            mapping["image_url"] = _PLACEHOLDER
        else:
            mapping["image_urls"] = [_PLACEHOLDER] * len(images)
    if spec.input_task_id:
        mapping["input_task_id"] = spec.input_task_id
    options_from_dict(spec.kind, mapping).validate()
    return options, attachments

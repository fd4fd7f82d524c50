"""Follow-ups on a finished model: which sources each takes, their results, the animation library, the endpoints.

The options are declared in followup_options.py; the generic endpoints (retrieve, list, delete,
stream, watch) are MeshyClient's, with a follow-up kind. This module adds what only follow-ups have:
the checks before paying that need the source task (its type, its status, its face count), the
parsing of rigging's and animation's ``result`` objects, and Meshy's animation library.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from . import ANIMATION, IMAGE_TO_3D, MULTI_IMAGE_TO_3D, REMESH, RETEXTURE, RIGGING
from .errors import ApiError, BadRequestError, NotFoundError, ValidationError
from .followup_options import AnimationOptions, RemeshOptions, RetextureOptions, RiggingOptions
from .model_refs import MAX_RIG_FACES, RIG_REMESH_TARGET
from .task import Task, TaskStatus

if TYPE_CHECKING:
    from .transport import Response

__all__ = [
    "ANIMATION_LIBRARY", "SOURCE_TYPES", "AnimationAction", "AnimationResult", "FollowupEndpoints", "RigResult",
    "check_action", "check_source", "parse_library", "result_urls", "search_actions",
]

TEXT_TO_3D = ("text-to-3d", "text-to-3d-preview", "text-to-3d-refine")
RIG_TYPE, ANIMATE_TYPE = "rig", "animate"
# Task types (the task object's "type") each operation starts from. Multi-Image to 3D is not named by
# Meshy's pages (written before it had its own); it is allowed, and Meshy's own 400 says if not.
SOURCE_TYPES: dict[str, tuple[str, ...]] = {
    REMESH: (*TEXT_TO_3D, IMAGE_TO_3D, MULTI_IMAGE_TO_3D, RETEXTURE),
    RETEXTURE: (*TEXT_TO_3D, IMAGE_TO_3D, MULTI_IMAGE_TO_3D, REMESH),
    RIGGING: (*TEXT_TO_3D, IMAGE_TO_3D, MULTI_IMAGE_TO_3D, REMESH, RETEXTURE),
    ANIMATION: (RIG_TYPE,),
}
_TYPE_ALIASES = {RIGGING: RIG_TYPE, ANIMATION: ANIMATE_TYPE, "animation": ANIMATE_TYPE}
LABELS = {REMESH: "Remesh", RETEXTURE: "Retexture", RIGGING: "Rigging", ANIMATION: "Animation",
          IMAGE_TO_3D: "Image to 3D", MULTI_IMAGE_TO_3D: "Multi-Image to 3D", RIG_TYPE: "rigging",
          ANIMATE_TYPE: "animation", **dict.fromkeys(TEXT_TO_3D, "Text to 3D")}
_WHAT_TO_DO = {
    REMESH: "remesh the original model's task instead",
    RETEXTURE: "retexture the original model's task instead, or a remesh of it",
    RIGGING: "it is rigged already: animate its rig task for more clips",
    ANIMATION: "rig the model first, then animate the rigging task",
}


def _label(task_type: str) -> str:
    return LABELS.get(task_type, task_type)


def check_source(kind: str, source_type: str | None = None, status: str | None = None,
                 face_count: int | None = None) -> None:
    """Raise ValidationError when the source cannot start this operation (before anything is paid).

    Each argument is checked when known: the source task's type ("image-to-3d", "rig", ...), its
    status, and (rigging) the face count of its model.
    """
    field = "rig_task_id" if kind == ANIMATION else "input_task_id"
    if kind not in SOURCE_TYPES:
        raise ValidationError("kind", f"must be one of {', '.join(SOURCE_TYPES)}")
    if source_type:
        t = _TYPE_ALIASES.get(source_type, source_type)
        if t not in SOURCE_TYPES[kind]:
            takes = ", ".join(dict.fromkeys(_label(s) for s in SOURCE_TYPES[kind]))
            what = ("an " if _label(t)[:1].lower() in "aeiou" else "a ") + _label(t)
            raise ValidationError(field, f"{LABELS[kind]} cannot start from {what} task (it takes {takes} "
                                  f"tasks): {_WHAT_TO_DO[kind]}")
    if status is not None and status != TaskStatus.SUCCEEDED:
        raise ValidationError(field, f"the source task is {status}, not finished: a follow-up starts from a "
                              "SUCCEEDED task (wait for it to finish, or run it again)")
    if face_count is not None and kind == RIGGING and face_count > MAX_RIG_FACES:
        raise ValidationError(field, f"the model has {face_count:,} faces and Meshy rigs at most {MAX_RIG_FACES:,}: "
                              f"remesh it first (e.g. target_polycount {RIG_REMESH_TARGET}), then rig the remeshed "
                              "model")


# -- results ---------------------------------------------------------------------------------------


def _urls(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str) and v}


@dataclass(frozen=True)
class RigResult:
    """A SUCCEEDED rigging task's files (Meshy's field names; '' when absent)."""

    rigged_character_glb_url: str = ""
    rigged_character_fbx_url: str = ""
    walking_glb_url: str = ""
    walking_fbx_url: str = ""
    walking_armature_glb_url: str = ""
    running_glb_url: str = ""
    running_fbx_url: str = ""
    running_armature_glb_url: str = ""

    @classmethod
    def from_task(cls, task: Task) -> RigResult | None:
        """None until the task has a result (Meshy sends null unless SUCCEEDED)."""
        result = task.raw.get("result")
        if not isinstance(result, Mapping):
            return None
        flat = {**_urls(result), **_urls(result.get("basic_animations"))}
        return cls(**{f.name: flat.get(f.name, "") for f in fields(cls)})

    @property
    def clips(self) -> dict[str, str]:
        """The with-skin clip GLBs by clip name: what lands as actions on the armature."""
        return {name: url for name, url in (("Walking", self.walking_glb_url), ("Running", self.running_glb_url))
                if url}


@dataclass(frozen=True)
class AnimationResult:
    """A SUCCEEDED animation task's files; which processed_* appear depends on post_process."""

    animation_glb_url: str = ""
    animation_fbx_url: str = ""
    processed_usdz_url: str = ""
    processed_armature_fbx_url: str = ""
    processed_animation_fps_fbx_url: str = ""

    @classmethod
    def from_task(cls, task: Task) -> AnimationResult | None:
        result = task.raw.get("result")
        if not isinstance(result, Mapping):
            return None
        flat = _urls(result)
        return cls(**{f.name: flat.get(f.name, "") for f in fields(cls)})


def result_urls(task: Task) -> dict[str, str]:
    """Every file a finished follow-up offers, by Meshy's key (model_urls' formats, or result's fields)."""
    if task.type in (RIG_TYPE, RIGGING):
        rig = RigResult.from_task(task)
        return {k: v for k, v in vars(rig).items() if v} if rig else {}
    if task.type in (ANIMATE_TYPE, ANIMATION, "animation"):
        anim = AnimationResult.from_task(task)
        return {k: v for k, v in vars(anim).items() if v} if anim else {}
    return dict(task.model_urls)


# -- the animation library -------------------------------------------------------------------------


@dataclass(frozen=True)
class AnimationAction:
    """One preset action of Meshy's animation library."""

    action_id: int
    name: str
    category: str = ""
    sub_category: str = ""
    preview_url: str = ""

    @property
    def label(self) -> str:
        return f"{self.name.replace('_', ' ')} ({self.action_id})"


def _action(i: int, name: str, category: str, sub: str) -> AnimationAction:
    return AnimationAction(i, name, category, sub)


# The first entries of Meshy's Animation Library page and its example (92); the live catalogue
# (MeshyClient.animation_library) has hundreds more.
ANIMATION_LIBRARY: tuple[AnimationAction, ...] = tuple(_action(*a) for a in (
    (0, "Idle", "DailyActions", "Idle"), (1, "Walking_Woman", "WalkAndRun", "Walking"),
    (2, "Alert", "DailyActions", "LookingAround"), (3, "Arise", "DailyActions", "LookingAround"),
    (4, "Attack", "Fighting", "AttackingwithWeapon"), (5, "BackLeft_run", "WalkAndRun", "Running"),
    (6, "BackRight_Run", "WalkAndRun", "Running"), (7, "BeHit_FlyUp", "Fighting", "GettingHit"),
    (8, "Dead", "Fighting", "Dying"), (9, "ForwardLeft_Run_Fight", "Fighting", "Transitioning"),
    (10, "ForwardRight_Run_Fight", "Fighting", "Transitioning"), (11, "Idle_02", "DailyActions", "Idle"),
    (12, "Idle_03", "DailyActions", "Idle"), (13, "Jump_Run", "WalkAndRun", "Running"),
    (14, "Run_02", "WalkAndRun", "Running"), (15, "Run_03", "WalkAndRun", "Running"),
    (16, "RunFast", "WalkAndRun", "Running"), (17, "Skill_01", "BodyMovements", "Acting"),
    (18, "Skill_02", "BodyMovements", "Acting"), (92, "Double_Combo_Attack", "Fighting", "AttackingwithWeapon"),
))


def parse_library(data: Any) -> list[AnimationAction]:
    """The catalogue JSON (a list, or a list under result/data/animations), entries read tolerantly."""
    if isinstance(data, Mapping):
        data = next((data[k] for k in ("result", "data", "animations") if isinstance(data.get(k), list)), [])
    out = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, Mapping):
            continue
        ident = item.get("action_id", item.get("id"))
        if isinstance(ident, bool) or not isinstance(ident, int):
            continue
        text = {k: str(item[k]) if isinstance(item.get(k), str) else "" for k in ("name", "category", "preview_url")}
        sub = item.get("sub_category", item.get("subCategory"))
        out.append(AnimationAction(ident, text["name"] or f"Action {ident}", text["category"],
                                   sub if isinstance(sub, str) else "", text["preview_url"]))
    return out


def search_actions(query: str, library: Iterable[AnimationAction] = ANIMATION_LIBRARY) -> list[AnimationAction]:
    """Actions whose id, name, category or sub-category contains query (case and '_' insensitive)."""
    q = query.strip().lower().replace("_", " ")
    return [a for a in library if not q or q == str(a.action_id)
            or any(q in s.lower().replace("_", " ") for s in (a.name, a.category, a.sub_category))]


def check_action(action_id: Any, library: Iterable[AnimationAction] | None = None) -> None:
    """An action id is a whole number from the library (checked against it when one is known)."""
    if isinstance(action_id, bool) or not isinstance(action_id, int) or action_id < 0:
        raise ValidationError("action_id", "must be an id from Meshy's animation library, e.g. 0 (Idle)")
    if library is not None:
        known = {a.action_id: a for a in library}
        if known and action_id not in known:
            examples = ", ".join(a.label for a in list(known.values())[:3])
            raise ValidationError("action_id", f"{action_id} is not in Meshy's animation library: pick one from "
                                  f"the library (e.g. {examples})")


# -- endpoints ---------------------------------------------------------------------------------------


class FollowupEndpoints:
    """MeshyClient's follow-up creates and the library (mixed into MeshyClient)."""

    if TYPE_CHECKING:  # provided by MeshyClient
        base_url: str

        def create(self, kind: str, opts: Any, *, cancel: threading.Event | None = None) -> str: ...

        def _send(self, method: str, url: str, *, body: bytes | None = None, create: bool = False,
                  cancel: threading.Event | None = None, missing_ok_after_retry: bool = False) -> Response: ...

        def _json(self, resp: Response) -> Any: ...

        def retrieve(self, kind: str, task_id: str, *, cancel: threading.Event | None = None) -> Task: ...

    def create_followup(self, kind: str, opts: Any, *, source: Task | None = None,
                        face_count: int | None = None, cancel: threading.Event | None = None) -> str:
        """Check the source (when given: its type and status; rigging: its face count), then create."""
        if source is not None:
            check_source(kind, source.type, source.status)
        check_source(kind, face_count=face_count)
        return self.create(kind, opts, cancel=cancel)

    def find_task(self, task_id: str, kinds: Iterable[str], *, cancel: threading.Event | None = None) -> Task | None:
        """The task behind a bare id, or None: Meshy's task endpoints are per kind, so each is asked in turn."""
        for kind in kinds:
            try:
                return self.retrieve(kind, task_id, cancel=cancel)
            except (NotFoundError, BadRequestError):
                continue
        return None

    def create_remesh(self, opts: RemeshOptions | Mapping[str, Any], **kw: Any) -> str:
        """POST /openapi/v1/remesh."""
        return self.create_followup(REMESH, opts, **kw)

    def create_retexture(self, opts: RetextureOptions | Mapping[str, Any], **kw: Any) -> str:
        """POST /openapi/v1/retexture."""
        return self.create_followup(RETEXTURE, opts, **kw)

    def create_rigging(self, opts: RiggingOptions | Mapping[str, Any], **kw: Any) -> str:
        """POST /openapi/v1/rigging; a 422 (no humanoid found) raises NotHumanoidError."""
        return self.create_followup(RIGGING, opts, **kw)

    def create_animation(self, opts: AnimationOptions | Mapping[str, Any], **kw: Any) -> str:
        """POST /openapi/v1/animations."""
        return self.create_followup(ANIMATION, opts, **kw)

    def animation_library(self, *, cancel: threading.Event | None = None) -> list[AnimationAction]:
        """Meshy's current animation catalogue (public JSON at /web/public/animations/resources)."""
        root = self.base_url
        for suffix in ("/openapi/v1", "/openapi"):
            if root.endswith(suffix):
                root = root[: -len(suffix)]
        actions = parse_library(self._json(self._send("GET", f"{root}/web/public/animations/resources",
                                                      cancel=cancel)))
        if not actions:
            raise ApiError(200, "the animation library answer held no actions")
        return actions

"""The animation library and its clips: each action is a procedural motion of the rig's joints.

Ids, names and categories are those of Meshy's Animation Library page (its first entries and the
documented example 92); the motions are ours: sine-driven swings of the bones (positive = backwards,
rig.py gives each bone its axis), sampled at the requested frame rate (30 fps by default).
"""

from __future__ import annotations

import math

from .rig import Clip, Rig

# action_id -> (name, category, sub_category, motion)
LIBRARY: dict[int, tuple[str, str, str, str]] = {
    0: ("Idle", "DailyActions", "Idle", "idle"),
    1: ("Walking_Woman", "WalkAndRun", "Walking", "walk"),
    2: ("Alert", "DailyActions", "LookingAround", "look"),
    3: ("Arise", "DailyActions", "LookingAround", "look"),
    4: ("Attack", "Fighting", "AttackingwithWeapon", "attack"),
    5: ("BackLeft_run", "WalkAndRun", "Running", "run"),
    6: ("BackRight_Run", "WalkAndRun", "Running", "run"),
    7: ("BeHit_FlyUp", "Fighting", "GettingHit", "hit"),
    8: ("Dead", "Fighting", "Dying", "dead"),
    9: ("ForwardLeft_Run_Fight", "Fighting", "Transitioning", "run"),
    10: ("ForwardRight_Run_Fight", "Fighting", "Transitioning", "run"),
    11: ("Idle_02", "DailyActions", "Idle", "idle"),
    12: ("Idle_03", "DailyActions", "Idle", "idle"),
    13: ("Jump_Run", "WalkAndRun", "Running", "jump"),
    14: ("Run_02", "WalkAndRun", "Running", "run"),
    15: ("Run_03", "WalkAndRun", "Running", "run"),
    16: ("RunFast", "WalkAndRun", "Running", "run"),
    17: ("Skill_01", "BodyMovements", "Acting", "skill"),
    18: ("Skill_02", "BodyMovements", "Acting", "skill"),
    92: ("Double_Combo_Attack", "Fighting", "AttackingwithWeapon", "attack"),
}
DURATIONS = {"idle": 2.0, "walk": 1.0, "run": 0.66, "look": 3.0, "attack": 1.2, "hit": 0.8, "dead": 1.5,
             "jump": 0.8, "skill": 1.5}
DEFAULT_FPS = 30
_Y = (0.0, 1.0, 0.0)


def library_json() -> list[dict]:
    """The catalogue as served at /web/public/animations/resources."""
    return [{"action_id": i, "name": n, "category": c, "sub_category": s, "preview_url": ""}
            for i, (n, c, s, _m) in sorted(LIBRARY.items())]


def _quat(axis, angle: float) -> tuple[float, float, float, float]:
    s = math.sin(angle / 2)
    return (axis[0] * s, axis[1] * s, axis[2] * s, math.cos(angle / 2))


def _mul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)


def _pose(motion: str, phase: float, amp: float) -> tuple[dict[str, float], dict[str, float], float]:
    """(swing angles in degrees by joint, yaw degrees by joint, hips lift as a fraction of height)."""
    s = math.sin(2 * math.pi * phase)
    c = math.cos(2 * math.pi * phase)
    swing: dict[str, float] = {}
    yaw: dict[str, float] = {}
    lift = 0.0
    if motion in ("walk", "run"):
        legs, knees, arms, bob = (25, 35, 18, 0.015) if motion == "walk" else (45, 80, 40, 0.03)
        swing.update(LeftUpLeg=-legs * s * amp, RightUpLeg=legs * s * amp, LeftArm=arms * s * amp,
                     RightArm=-arms * s * amp, LeftLeg=knees * max(0.0, -c) * amp,
                     RightLeg=knees * max(0.0, c) * amp, LeftForeArm=-10 - 20 * (motion == "run"),
                     RightForeArm=-10 - 20 * (motion == "run"))
        if motion == "run":
            swing["Spine"] = -10.0
        lift = bob * abs(s)
    elif motion == "idle":
        swing.update(Spine1=2 * s * amp, LeftArm=3 * s * amp, RightArm=3 * s * amp, Head=-1.5 * s)
    elif motion == "look":
        yaw.update(Head=35 * s * amp, Neck=10 * s * amp)
    elif motion == "attack":
        k = math.sin(math.pi * phase) ** 2
        swing.update(RightArm=-110 * k * amp, RightForeArm=-30 * k, Spine1=-15 * k)
        yaw["Spine"] = 25 * k * amp
    elif motion == "hit":
        k = math.sin(math.pi * phase)
        swing.update(Spine=25 * k * amp, Neck=15 * k, LeftArm=-30 * k, RightArm=-30 * k)
        lift = 0.05 * k
    elif motion == "dead":
        k = min(1.0, phase * 1.3)
        swing.update(Hips=80 * k, LeftArm=-40 * k, RightArm=-40 * k, LeftLeg=20 * k, RightLeg=10 * k)
        lift = -0.4 * k
    elif motion == "jump":
        k = math.sin(math.pi * phase)
        swing.update(LeftUpLeg=-30 * k, RightUpLeg=-30 * k, LeftLeg=50 * k, RightLeg=50 * k,
                     LeftArm=-60 * k * amp, RightArm=-60 * k * amp)
        lift = 0.15 * k * amp
    elif motion == "skill":
        k = math.sin(math.pi * phase)
        swing.update(LeftArm=-90 * k * amp, RightArm=-90 * k * amp, Spine1=8 * k, Head=-10 * k)
    return swing, yaw, lift


def make_clip(rig: Rig, name: str, motion: str, fps: int = DEFAULT_FPS, amp: float = 1.0) -> Clip:
    """Sample one motion over its duration at fps (the first and last frames close a loop)."""
    duration = DURATIONS[motion]
    frames = max(2, round(duration * fps) + 1)
    times = [k / fps for k in range(frames)]
    rotations: dict[str, list] = {}
    hips = []
    rest = rig.joints["Hips"]
    for t in times:
        swing, yaw, lift = _pose(motion, t / duration, amp)
        for joint in set(swing) | set(yaw):
            q = _quat(rig.swing_axes[joint], math.radians(swing.get(joint, 0.0)))
            if joint in yaw:
                q = _mul(_quat(_Y, math.radians(yaw[joint])), q)
            rotations.setdefault(joint, []).append(q)
        hips.append((rest[0], rest[1] + lift * rig.height, rest[2]))
    # a joint that appears in only some frames (none do today) would break the sampler length
    rotations = {j: v for j, v in rotations.items() if len(v) == frames}
    return Clip(name, times, rotations, {"Hips": hips})


def walking(rig: Rig, fps: int = DEFAULT_FPS) -> Clip:
    return make_clip(rig, "Walking", "walk", fps)


def running(rig: Rig, fps: int = DEFAULT_FPS) -> Clip:
    return make_clip(rig, "Running", "run", fps)


def action_clip(rig: Rig, action_id: int, fps: int = DEFAULT_FPS) -> Clip:
    """The library action's clip, named after it."""
    name, _cat, _sub, motion = LIBRARY[action_id]
    return make_clip(rig, name, motion, fps, amp=1.0 + 0.1 * (action_id % 3))

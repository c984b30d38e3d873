"""Ready-made scenarios (lists of segments) for the CLI, the demo and notebooks.

``quiet-stance``
    One standing segment (optionally supported) of ``duration_s`` (default 60 s).
``sitting``
    One sitting segment of ``duration_s`` (default 60 s).
``perturbation``
    Standing with forward pushes; default pushes every 15 s from 10 s on (at least 10 s of
    quiet before each and 5 s after the last), default duration 60 s.
``dmi-session``
    A short Dynamic Movement Intervention session (about 6 min by default): sitting with
    hip support and reaching, sit-to-stand repetitions, supported standing at the knees and
    at the ankles, independent standing with two pushes, four-point rocking, prone chest
    lifts, supine roll attempts, side-lying. ``duration_s`` scales every segment.
"""

from __future__ import annotations

from collections.abc import Sequence

from dmi_sensors.errors import ParameterError
from dmi_sensors.sim.segments import Perturbation, Segment

__all__ = ["SCENARIOS", "scenario_segments"]

SCENARIOS = ("quiet-stance", "sitting", "perturbation", "dmi-session")


def _session(scale: float) -> list[Segment]:
    def seg(posture, duration_s, **kw):
        return Segment(posture, duration_s * scale, **kw)

    return [
        seg("sitting", 40.0, support="hips", repetitions=3, label="sit_reach_hips"),
        seg("sit_to_stand", 45.0, repetitions=3, label="sit_to_stand"),
        seg("supported_standing", 40.0, support="knees", repetitions=2, label="stand_support_knees"),
        seg("supported_standing", 40.0, support="ankles", repetitions=2, label="stand_support_ankles"),
        Segment(
            "standing",
            45.0 * scale,
            label="stand_pushes",
            perturbations=(Perturbation(15.0 * scale), Perturbation(30.0 * scale, direction_deg=90.0)),
        ),
        seg("four_point", 35.0, repetitions=3, label="four_point_rocking"),
        seg("prone", 30.0, repetitions=3, label="prone_chest_lift"),
        seg("supine", 30.0, repetitions=2, label="supine_roll"),
        seg("side_lying", 25.0, repetitions=2, label="side_lying"),
    ]


def scenario_segments(
    name: str,
    duration_s: float | None = None,
    perturbations_s: Sequence[float] = (),
    support: str = "none",
    push_force_n: float | None = None,
    push_direction_deg: float = 0.0,
) -> list[Segment]:
    """The segments of a named scenario (see the module docstring).

    ``perturbations_s`` adds pushes (onset times, s) to the standing scenarios and replaces
    the default pushes of ``perturbation``; ``support`` applies to ``quiet-stance`` and
    ``sitting``.
    """
    if name not in SCENARIOS:
        raise ParameterError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    if duration_s is not None and not duration_s > 0:
        raise ParameterError(f"duration_s must be > 0, got {duration_s}")

    def pushes(times: Sequence[float]) -> tuple[Perturbation, ...]:
        return tuple(Perturbation(float(t), force_n=push_force_n, direction_deg=push_direction_deg) for t in times)

    if name == "dmi-session":
        if perturbations_s:
            raise ParameterError("--perturbation-at-s applies to quiet-stance and perturbation, not dmi-session")
        base = sum(s.duration_s for s in _session(1.0))
        return _session(1.0 if duration_s is None else duration_s / base)
    duration = 60.0 if duration_s is None else float(duration_s)
    if name == "sitting":
        if perturbations_s:
            raise ParameterError("pushes are simulated in standing only; use quiet-stance or perturbation")
        return [Segment("sitting", duration, support=support, label="sitting")]
    if name == "quiet-stance":
        posture = "standing" if support == "none" else "supported_standing"
        perts = pushes(perturbations_s)
        return [Segment(posture, duration, support=support, label="quiet_stance", perturbations=perts)]
    times = list(perturbations_s)
    if not times:
        t = 10.0
        while t + 5.0 <= duration:
            times.append(t)
            t += 15.0
        if not times:
            raise ParameterError(f"a perturbation trial needs at least 15 s, got {duration} s")
    return [Segment("standing", duration, support=support, label="perturbation", perturbations=pushes(times))]

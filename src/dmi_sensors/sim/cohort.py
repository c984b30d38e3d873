"""A simulated cohort: many children, several DMI sessions each, recorded into one store.

For the cohort analysis (:func:`dmi_sensors.batch`), its notebook and benchmark. Each child
has a pseudonymous id, a birth year, a COM height drawn from 0.40-0.55 m (2-5 year-olds)
and a group (a diagnosis category). A child's spontaneous sway is ``noise_scale`` times the
simulator's default: ``group_sway[group]`` at the first session, shrinking by
``improvement`` per later session (therapy works in this simulation). Every session is
recorded from the same plan by :func:`dmi_sensors.sim.session.record_simulated_session`
(virtual sensors -> packets -> the store's writer, therapist's tags), ``interval_days``
apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.session.model import Plan, Subject
from dmi_sensors.sim.body import BodyParams
from dmi_sensors.sim.session import SimulatedSensor, record_simulated_session
from dmi_sensors.store.sessionstore import SessionStore

__all__ = ["CohortChild", "CohortSession", "record_cohort", "simulated_children"]


@dataclass(frozen=True)
class CohortChild:
    """One simulated child: the stored subject, its group and its first-session sway factor."""

    subject: Subject
    group: str
    noise_scale: float


@dataclass(frozen=True)
class CohortSession:
    """One recorded session of the cohort: store id, child, session number (1, 2, ...) and
    the sway factor it was simulated with."""

    session_id: int
    child: CohortChild
    number: int
    noise_scale: float


def simulated_children(
    n_children: int,
    group_sway: Mapping[str, float],
    *,
    seed: int = 0,
    birth_year: int = 2022,
) -> list[CohortChild]:
    """``n_children`` children, assigned to the groups of ``group_sway`` in turn.

    ``group_sway``: diagnosis category -> sway factor of the group (e.g.
    ``{"typical_development": 1.0, "cerebral_palsy": 1.6}``); each child gets the group's
    factor times a log-normal individual factor (sd 10 %).
    """
    if n_children < 1 or not group_sway:
        raise ParameterError("simulated_children: need at least one child and one group")
    rng = np.random.default_rng([int(seed), 0xC0407])
    groups = list(group_sway)
    children = []
    for k in range(n_children):
        group = groups[k % len(groups)]
        com_height_m = round(float(rng.uniform(0.40, 0.55)), 3)
        scale = float(group_sway[group] * np.exp(rng.normal(0.0, 0.1)))
        subject = Subject(f"C{k + 1:03d}", birth_year - int(rng.integers(0, 3)), com_height_m, group)
        children.append(CohortChild(subject, group, scale))
    return children


def record_cohort(
    store: SessionStore,
    children: Sequence[CohortChild],
    plan: Plan,
    *,
    sessions_per_child: int = 1,
    improvement: float = 0.1,
    interval_days: int = 7,
    start_utc: str = "2026-01-05T09:00:00Z",
    seed: int = 0,
    sensors: Sequence[SimulatedSensor] | None = None,
) -> list[CohortSession]:
    """Record every child's sessions into ``store``; returns them in recording order.

    Session ``n`` (1, 2, ...) of a child is simulated with sway factor
    ``noise_scale * (1 - improvement) ** (n - 1)`` and starts ``(n - 1) * interval_days``
    after ``start_utc`` (plus one minute per child). ``sensors``: the virtual sensors of
    every session (default: trunk and pelvis, :func:`dmi_sensors.sim.session.default_sensors`).
    """
    if sessions_per_child < 1 or not 0 <= improvement < 1:
        raise ParameterError("record_cohort: sessions_per_child >= 1 and 0 <= improvement < 1")
    t0 = datetime.fromisoformat(start_utc.replace("Z", "+00:00")).astimezone(UTC)
    out = []
    for i, child in enumerate(children):
        for n in range(1, sessions_per_child + 1):
            scale = child.noise_scale * (1.0 - improvement) ** (n - 1)
            if child.subject.com_height_m is None:
                raise ParameterError(f"record_cohort: child {child.subject.subject_id} needs a com_height_m")
            body = BodyParams(com_height_m=child.subject.com_height_m, noise_scale=scale)
            start = t0 + timedelta(days=(n - 1) * interval_days, minutes=i)
            sid, _ = record_simulated_session(
                store,
                child.subject,
                plan,
                seed=int(seed) * 1_000_003 + i * 101 + n,
                start_utc=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                sensors=sensors,
                body=body,
            )
            out.append(CohortSession(sid, child, n, scale))
    return out

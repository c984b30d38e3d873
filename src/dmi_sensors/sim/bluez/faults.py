"""Fault injection for the emulated BlueZ: what can go wrong on a BLE link, on purpose.

A :class:`FaultProfile` is applied per device with its own seeded random generator, so a
run is reproducible for a given seed (the *timing* of the host still varies, so tests
assert on the emulator's truth, not on fixed counts).

Faults and how BlueZ / the air would show them to bleak:

=========================  ==================================================================
``connect_abort_first``    ``Device1.Connect`` fails with ``org.bluez.Error.Failed``
``connect_abort_p``        "le-connection-abort-by-local" (Connected flips true then false)
``disconnect_after_s``     unsolicited disconnect: ``ServicesResolved``/``Connected`` go
                           false and the GATT objects are removed, after a streaming time
                           drawn uniformly from the (low, high) range, ``max_disconnects`` times
``drop_p``                 a notification is lost on the air (never emitted)
``malformed_p``            a notification arrives corrupted (the peripheral's ``corrupt``)
``busy_write_first`` /     ``WriteValue`` answers ``org.bluez.Error.InProgress`` (bleak retries
``busy_write_p``           every 10 ms)
``service_delay_s``        service resolution takes this long after ``Connected`` = true
``vanish_after_s``         after this much streaming the device disconnects and is gone for
                           good (removed from the adapter, never advertised again)
``acquire_notify_fail_``   the first N ``AcquireNotify`` calls fail with ``org.bluez.Error.Failed``
``first``                  (a BlueZ that cannot set up the notification socket): the host must
                           fall back to ``StartNotify``
``down_samples``           after an unsolicited disconnect the device accepts a new connection
                           only once it has produced this many samples with the link down, so
                           every drop costs at least that many samples however fast the host
                           reconnects and however late the emulator polls (0: no minimum)
=========================  ==================================================================

A drop at a given point of the stream, counted in samples rather than seconds, is the
control channel's ``disconnect {address, after_samples, down_samples}``
(:meth:`dmi_sensors.sim.bluez.emulator._Device.drop_after`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from dmi_sensors.errors import ParameterError

__all__ = ["PROFILES", "FaultProfile", "fault_profile"]


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """Which faults a device suffers (see the module docstring). Defaults: none."""

    name: str = "none"
    connect_abort_first: int = 0
    connect_abort_p: float = 0.0
    disconnect_after_s: tuple[float, float] | None = None
    max_disconnects: int = 0
    drop_p: float = 0.0
    malformed_p: float = 0.0
    busy_write_first: int = 0
    busy_write_p: float = 0.0
    service_delay_s: float = 0.0
    vanish_after_s: float | None = None
    down_samples: int = 0
    acquire_notify_fail_first: int = 0

    def __post_init__(self) -> None:
        for name in ("connect_abort_p", "drop_p", "malformed_p", "busy_write_p"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ParameterError(f"{name} must be in [0, 1), got {p}")
        if self.disconnect_after_s is not None:
            lo, hi = self.disconnect_after_s
            if not 0 < lo <= hi:
                raise ParameterError(f"disconnect_after_s must satisfy 0 < low <= high, got {self.disconnect_after_s}")
        if self.acquire_notify_fail_first < 0:
            raise ParameterError(f"acquire_notify_fail_first must be >= 0, got {self.acquire_notify_fail_first}")
        if self.down_samples < 0:
            raise ParameterError(f"down_samples must be >= 0, got {self.down_samples}")
        if self.service_delay_s < 0:
            raise ParameterError(f"service_delay_s must be >= 0, got {self.service_delay_s}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (used on the emulator's control channel)."""
        d = asdict(self)
        if d["disconnect_after_s"] is not None:
            d["disconnect_after_s"] = list(d["disconnect_after_s"])
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultProfile:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ParameterError(f"unknown fault fields: {sorted(unknown)}")
        kwargs = dict(data)
        if kwargs.get("disconnect_after_s") is not None:
            kwargs["disconnect_after_s"] = tuple(kwargs["disconnect_after_s"])
        return cls(**kwargs)

    def with_(self, **changes: Any) -> FaultProfile:
        """A copy with some fields changed."""
        return replace(self, **changes)


#: Named profiles used by ``dmi-sensors record --simulate-sensors N --fault-profile NAME``.
PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile(),
    "flaky": FaultProfile(
        name="flaky",
        connect_abort_first=1,
        disconnect_after_s=(1.0, 2.0),
        max_disconnects=2,
        drop_p=0.01,
        malformed_p=0.005,
        busy_write_first=1,
        service_delay_s=0.2,
    ),
    "hostile": FaultProfile(
        name="hostile",
        connect_abort_first=1,
        connect_abort_p=0.3,
        disconnect_after_s=(1.0, 3.0),
        max_disconnects=10,
        drop_p=0.05,
        malformed_p=0.02,
        busy_write_first=2,
        busy_write_p=0.2,
        service_delay_s=1.0,
    ),
}


def fault_profile(name: str) -> FaultProfile:
    """The named profile (``none``, ``flaky``, ``hostile``); ``ValueError`` names the choices."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ParameterError(f"unknown fault profile {name!r}; choose from {', '.join(PROFILES)}") from None

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
``vanish_after_samples``   ``vanish_after_s`` counted in samples put on the air (the
                           notification that would pass the count is the first one lost)
``absent``                 the device never advertises and cannot be connected: a sensor that
                           is never found
``counter_jump`` /         once this many samples are on the air, the next data notification
``counter_jump_after_      is sent well-formed but with its sample counter advanced by
samples``                  ``counter_jump`` (firmware or memory corruption); later ones are normal
``kill_bus_after_samples`` once this device put this many samples on the air, the emulator kills
                           the D-Bus daemon (SIGKILL): the system bus dies under the host
``bluez_exit_after_        once this device put this many samples on the air, the emulator leaves
samples``                  the bus (``org.bluez`` loses its owner, as when bluetoothd crashes);
                           its control channel (truth) stays up
=========================  ==================================================================

Counts "on the air" are the device's samples emitted, dropped or corrupted since the
emulator started, so a fault falls at the same place in the stream however busy the machine.

Named fault profiles apply to every device (:data:`PROFILES`); named *scenarios* hit one
device of a set (:data:`SCENARIOS`, :func:`fault_scenario`): ``vanish`` (the first sensor is
lost for good), ``counter-jump`` (the second sensor sends one packet with a counter 10**7
ahead), ``never-found`` (the last sensor never advertises), ``bus-dies`` and ``bluez-dies``
(the first sensor's stream triggers them). ``dmi-sensors record --simulate-sensors N
--fault-profile NAME[,NAME...]`` takes a profile and scenarios, e.g.
``vanish,counter-jump,never-found`` with three sensors (:func:`fault_setup`).

A drop at a given point of the stream, counted in samples rather than seconds, is the
control channel's ``disconnect {address, after_samples, down_samples}``
(:meth:`dmi_sensors.sim.bluez.emulator._Device.drop_after`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from dmi_sensors.errors import ParameterError

__all__ = ["PROFILES", "SCENARIOS", "FaultProfile", "fault_profile", "fault_scenario", "fault_setup"]


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
    vanish_after_samples: int | None = None
    absent: bool = False
    counter_jump: int = 0
    counter_jump_after_samples: int | None = None
    kill_bus_after_samples: int | None = None
    bluez_exit_after_samples: int | None = None
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
        for name in (
            "vanish_after_samples",
            "counter_jump_after_samples",
            "kill_bus_after_samples",
            "bluez_exit_after_samples",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ParameterError(f"{name} must be >= 0 (or None), got {value}")

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


#: Samples on the air before a scenario's fault strikes (2 s at 200 Hz).
SCENARIO_AFTER_SAMPLES = 400

#: Faults that hit one device of a set: name -> (which device: "first", "second" (the first
#: when there is one) or "last", its profile).
SCENARIOS: dict[str, tuple[str, FaultProfile]] = {
    "vanish": ("first", FaultProfile(name="vanish", vanish_after_samples=SCENARIO_AFTER_SAMPLES)),
    "never-found": ("last", FaultProfile(name="never-found", absent=True)),
    "counter-jump": (
        "second",
        FaultProfile(name="counter-jump", counter_jump=10**7, counter_jump_after_samples=SCENARIO_AFTER_SAMPLES),
    ),
    "bus-dies": ("first", FaultProfile(name="bus-dies", kill_bus_after_samples=SCENARIO_AFTER_SAMPLES)),
    "bluez-dies": ("first", FaultProfile(name="bluez-dies", bluez_exit_after_samples=SCENARIO_AFTER_SAMPLES)),
}


def fault_profile(name: str) -> FaultProfile:
    """The named profile (``none``, ``flaky``, ``hostile``); ``ValueError`` names the choices."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ParameterError(f"unknown fault profile {name!r}; choose from {', '.join(PROFILES)}") from None


def fault_scenario(name: str, addresses: list[str]) -> dict[str, FaultProfile]:
    """The named scenario (:data:`SCENARIOS`) on ``addresses`` (in order): ``{address: profile}``
    with the fault on the first or the last address, no faults on the others (``"*"``)."""
    try:
        which, profile = SCENARIOS[name]
    except KeyError:
        raise ParameterError(f"unknown fault scenario {name!r}; choose from {', '.join(SCENARIOS)}") from None
    if not addresses:
        raise ParameterError(f"fault scenario {name!r} needs at least one device")
    index = {"first": 0, "second": min(1, len(addresses) - 1), "last": len(addresses) - 1}[which]
    return {"*": FaultProfile(), addresses[index].upper(): profile}


def fault_setup(names: str, addresses: list[str]) -> FaultProfile | dict[str, FaultProfile]:
    """``--fault-profile NAME[,NAME...]``: at most one profile (every device) and scenarios
    (each on its device; two on one device raise ``ParameterError``)."""
    parts = [n.strip() for n in names.split(",") if n.strip()] or ["none"]
    unknown = [n for n in parts if n not in PROFILES and n not in SCENARIOS]
    if unknown:
        choices = ", ".join([*PROFILES, *SCENARIOS])
        raise ParameterError(f"unknown fault profile {unknown[0]!r}; choose from {choices}")
    profiles = [n for n in parts if n in PROFILES]
    if len(profiles) > 1:
        raise ParameterError(f"one fault profile at a time, got {', '.join(profiles)}")
    base = PROFILES[profiles[0]] if profiles else PROFILES["none"]
    scenarios = [n for n in parts if n in SCENARIOS]
    if not scenarios:
        return base
    out: dict[str, FaultProfile] = {"*": base}
    for name in scenarios:
        ((address, profile),) = ((a, p) for a, p in fault_scenario(name, addresses).items() if a != "*")
        if address in out:
            raise ParameterError(f"fault scenarios {out[address].name!r} and {name!r} would hit the same device")
        out[address] = profile
    return out

"""Simulator speed: how many times faster than real time (target: > 10x, single core)."""

from __future__ import annotations

import time

from dmi_sensors import protocol
from dmi_sensors.sim import ImuErrors, Segment, SensorLink, VirtualSensor, simulate
from dmi_sensors.sim.scenarios import scenario_segments


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> dict[str, float]:
    simulate([Segment("standing", 2.0)], fs_hz=200)  # compile / load the Numba cache
    quiet = [Segment("standing", 60.0)]
    t_quiet = _best(lambda: simulate(quiet, fs_hz=200, seed=1, imu_errors=ImuErrors.typical()))
    session = scenario_segments("dmi-session")
    dur = sum(s.duration_s for s in session)
    t_session = _best(lambda: simulate(session, fs_hz=100, seed=1), repeat=1)
    res = simulate(quiet, fs_hz=200, seed=1, imu_errors=ImuErrors.typical())
    t_packets = _best(lambda: res.packets())

    def stream() -> None:
        s = VirtualSensor(1, quiet, fs_hz=200, seed=2)
        s.handle_control(protocol.encode_command(protocol.StartStreaming(seq=1)))
        t = 0.0
        while t < 60.0:
            t += 0.05
            s.packets_until(t)

    t_stream = _best(stream)

    def received() -> None:  # the same, through the sensor's link (the one packet scheduler)
        link = SensorLink(VirtualSensor(1, quiet, fs_hz=200, seed=2))
        link.start(0.0)
        t = 0.0
        while t < 60.0:
            t += 0.05
            link.receive_until(t)

    t_link = _best(received)
    return {
        "quiet_stance_60s_200hz_s": round(t_quiet, 4),
        "quiet_stance_realtime_factor": round(60.0 / t_quiet, 1),
        "dmi_session_s_simulated": round(dur, 1),
        "dmi_session_100hz_s": round(t_session, 4),
        "dmi_session_realtime_factor": round(dur / t_session, 1),
        "packets_60s_200hz_s": round(t_packets, 4),
        "virtual_sensor_60s_200hz_in_50ms_steps_s": round(t_stream, 4),
        "virtual_sensor_realtime_factor": round(60.0 / t_stream, 1),
        "sensor_link_60s_200hz_in_50ms_steps_s": round(t_link, 4),
        "sensor_link_realtime_factor": round(60.0 / t_link, 1),
    }

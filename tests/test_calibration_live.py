"""Live calibration through bleak's BlueZ backend and the emulated BlueZ (marker ``bluez``).

The emulated sensor (``dmi_sensors.sim.bluez.guided``) has the known IMU errors
``random_imu_errors(seed)`` and performs each step when it is announced; the host side is
exactly the code used with hardware (``LiveSource`` over ``SensorLink``).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from bluez_helpers import assert_gone

from dmi_sensors import cli
from dmi_sensors.calibration import calibrate_gyro, read_calibration
from dmi_sensors.calibration.guided import Step, arun_procedure
from dmi_sensors.sim.calibration import error_truth, random_imu_errors
from dmi_sensors.sim.identity import simulated_sensor_id

pytestmark = pytest.mark.bluez

FACTORY = "dmi_sensors.sim.bluez.guided:calibration_sensors"
ADDRESS = "D0:31:5E:00:00:01"
STILL = Step("still", "Lay the sensor on a table and do not touch it.", duration_s=4.0, settle_s=0.5)


def test_cli_gyro_via_bluez_recovers_bias(tmp_path, capsys, monkeypatch):
    from dmi_sensors.sim.bluez.harness import EmulatedBluez

    pids: list[int] = []
    start = EmulatedBluez.start

    def recording_start(self):
        out = start(self)
        pids.extend([self.pid, self.bus.pid])
        return out

    monkeypatch.setattr(EmulatedBluez, "start", recording_start)
    out_json = tmp_path / "gyro.json"
    argv = ["calibrate", "gyro", "--via-bluez", "--seed", "4", "--step-s", "4", "--wait", "--json", str(out_json)]
    rc = cli.main(argv)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "--wait ignored" in out  # pytest's stdin is not a terminal: the steps just follow
    assert "Step 1/1" in out and "truth:" in out
    cal = read_calibration(out_json)
    assert cal.kind == "gyro" and cal.sensor_serial == simulated_sensor_id(0)  # the sensor record records first
    assert cal.source["live"] is True and cal.source["emulated"] is True and cal.source["steps_repeated"] == 0
    truth = error_truth(random_imu_errors(4))["gyr_bias_rps"]
    assert np.abs(cal.bias_rps - truth).max() < 1e-3
    assert cal.still_duration_s > 2.5
    assert len(pids) == 2 and all(pids)
    assert_gone(pids)


#: The link drop: DROP_AFTER samples after the step started (the middle of the 4 s step at
#: 100 Hz), down for at least DOWN samples. Both are counted by the emulator in samples, so
#: neither a busy machine nor a slow reconnection moves the drop or lets it cost nothing.
DROP_AFTER, DOWN = 200, 30


async def _live_still(emu, max_attempts: int, drop_on_attempts: tuple[int, ...]):
    from dmi_sensors.ble import ReconnectPolicy
    from dmi_sensors.live import LiveSource, monotonic_link

    async def hook(step, attempt):
        await emu.acall("act", address=ADDRESS, action=dataclasses.asdict(step))
        if attempt in drop_on_attempts:
            await emu.acall("disconnect", address=ADDRESS, after_samples=DROP_AFTER, down_samples=DOWN)

    policy = ReconnectPolicy(initial_backoff_s=0.1, max_backoff_s=0.5, scan_timeout_s=2.0)
    link = monotonic_link(ADDRESS, 100, policy=policy)
    source = LiveSource(link, connect_timeout_s=15.0, max_attempts=max_attempts, on_step_start=hook, say=lambda s: None)
    async with source:
        trial = await arun_procedure([STILL], source, say=lambda s: None)
    return source, link, trial


async def test_link_drop_mid_step_is_recorded_again(bluez):
    emu = bluez(factory=FACTORY, factory_kwargs={"seed": 2, "fs_hz": 100})
    source, link, trial = await _live_still(emu, max_attempts=3, drop_on_attempts=(1,))
    # attempt 1 lost the samples produced while the link was down: refused, step repeated
    assert [a[:2] for a in source.attempts] == [("still", 1), ("still", 2)]
    lost, into_s = re.fullmatch(r"(\d+) samples lost (\S+) s into the step", source.attempts[0][2]).groups()
    assert int(lost) >= DOWN and 0.0 < float(into_s) < STILL.duration_s
    assert source.attempts[1][2] == "ok"
    stats = link.stats
    assert stats.reconnects == 1 and stats.samples_lost == int(lost)
    truth = (await emu.atruth())[ADDRESS]
    assert truth["disconnects_unsolicited"] == 1
    assert stats.samples_lost == truth["samples_dropped"]  # counted exactly, nothing invented
    # the repeated step is complete and uniform: 4 s at 100 Hz, no NaN
    assert trial.acc_mps2.shape == (400, 3) and np.isfinite(trial.gyr_rps).all()
    cal = calibrate_gyro(trial.acc_mps2, trial.gyr_rps, trial.fs_hz, source.sensor_serial)
    assert np.abs(cal.bias_rps - error_truth(random_imu_errors(2))["gyr_bias_rps"]).max() < 1e-3


async def test_link_drop_without_retries_is_a_clear_error(bluez):
    from dmi_sensors.live import LiveCalibrationError

    emu = bluez(factory=FACTORY, factory_kwargs={"seed": 3, "fs_hz": 100})
    with pytest.raises(
        LiveCalibrationError, match=r"step 'still' incomplete after 1 attempt\(s\): (\d+) samples lost"
    ) as e:
        await _live_still(emu, max_attempts=1, drop_on_attempts=(1,))
    lost = int(re.search(r"(\d+) samples lost", str(e.value)).group(1))
    truth = (await emu.atruth())[ADDRESS]
    assert lost >= DOWN and truth["disconnects_unsolicited"] == 1 and lost == truth["samples_dropped"]

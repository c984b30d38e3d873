"""Third-party sensors through bleak and the emulated BlueZ: discover, set up, stream, lose, reconnect.

Each vendor's emulated peripheral (:mod:`dmi_sensors.sim.bluez.vendors`) speaks its GATT
layout and byte format over the simulated body; the host side is the real
:class:`~dmi_sensors.ble.SensorLink` with the vendor's setup exchange
(:mod:`dmi_sensors.ble.vendors`). The emulator runs in real time (the host clock is part of
what is tested: arrival times time the samples of WitMotion and MetaMotion), so the default
tests stream a few seconds; ``benchmarks/bench_vendors.py`` streams 60 s.

Checks are physical: every decoded sample is compared with the simulated reading it must
be (the sample number comes from the decoder's counters, so a misplaced loss shows as a
mismatch), and losses are compared with the emulator's truth.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest

from dmi_sensors.ble import SensorLink, discover, find_sensor
from dmi_sensors.sim.bluez import simulated_sensors
from dmi_sensors.sim.bluez.vendors import VENDOR_PERIPHERALS
from dmi_sensors.sim.identity import sensor_address
from dmi_sensors.types import SampleBatch
from dmi_sensors.vendors import finish, stored_decoder

pytestmark = pytest.mark.slow

VENDORS = ("metamotion", "dot", "polar", "witmotion")
RATE_HZ = {"metamotion": 100, "dot": 60, "polar": 52, "witmotion": 100}
MODEL = {"metamotion": "MetaMotion", "dot": "DOT", "polar": "Verity Sense", "witmotion": "WT901BLECL"}
#: quantisation of each vendor's wire format (acc m/s², gyr rad/s), half an LSB
TOL = {
    "metamotion": (9.80665 / 4096, np.pi / 180 / 16.4),
    "dot": (1e-5, 1e-6),
    "polar": (9.80665e-3, 2000 / 32768 * np.pi / 180),
    "witmotion": (16 * 9.80665 / 32768, 2000 / 32768 * np.pi / 180),
}


async def _stream(emu, vendor: str, samples: int, *, scan: bool = True) -> tuple[SensorLink, dict]:
    """Stream until ``samples`` samples are decoded. ``scan``: find the sensor by a 3-s
    :func:`discover` (exactly this one advertises); otherwise connect as soon as its
    advertisement is seen (:func:`find_sensor`, event-driven: the tests whose subject is
    the link, not the scan, do not wait out a fixed scan)."""
    if scan:
        adverts = await discover(3.0, vendors=True)
    else:
        found = await find_sensor(sensor_address(0), 30.0, vendors=True)
        adverts = [found] if found is not None else []
    assert [(a.vendor, a.model) for a in adverts] == [(vendor, MODEL[vendor])]
    link = SensorLink(adverts[0], "trunk", keep_packets=True)
    link.start()
    await link.wait_streaming(30.0)
    # driven by sample count, not by time
    while link.stats.samples_received < samples and link.state != "failed":
        await asyncio.sleep(0.05)
    await link.stop()
    return link, (await emu.atruth())[adverts[0].address.upper()]


def _check_physics(vendor: str, batch: SampleBatch) -> None:
    """Every sample is the simulated reading its counter names (counters relative to the
    first sample, whose index in the simulation is found by matching)."""
    sim = VENDOR_PERIPHERALS[vendor](0).readings(RATE_HZ[vendor])
    n_sim = len(sim)
    acc_tol, gyr_tol = TOL[vendor]
    first = np.flatnonzero(np.all(np.abs(sim.acc_mps2 - batch.acc_mps2[0]) <= acc_tol + 1e-9, axis=1))
    assert first.size >= 1, "the first sample is no simulated reading"
    ok = False
    for k0 in first:
        idx = (k0 + batch.counter - batch.counter[0]) % n_sim
        if np.all(np.abs(sim.acc_mps2[idx] - batch.acc_mps2) <= acc_tol + 1e-9):
            ok = True
            gyr_ok = np.all(np.abs(sim.gyr_rps[idx] - batch.gyr_rps) <= gyr_tol + 1e-9, axis=1)
            if vendor == "metamotion":
                # its gyroscope notifications are paired with the accelerometer's by arrival
                # (no device time): the pairing settles within its window of 32 pairs, and a
                # busy host that delays one kind of notification can shift it for a while
                # (seen under two CPU burners); most pairs must still be right
                assert gyr_ok[64:].mean() >= 0.9, gyr_ok[64:].mean()
            else:
                assert gyr_ok.all()
            break
    assert ok, "decoded samples do not follow the simulated readings by their counters"
    norm = np.linalg.norm(batch.acc_mps2, axis=1)
    assert abs(np.median(norm) - 9.81) < 0.6  # quiet standing: gravity (with the unit's bias and scale errors)


@pytest.mark.parametrize("vendor", VENDORS)
def test_vendor_discover_set_up_stream_without_loss(vendor):
    rate = RATE_HZ[vendor]
    with simulated_sensors(1, vendors=[vendor]) as emu, emu.activated():
        link, truth = asyncio.run(_stream(emu, vendor, 3 * rate))
    s = link.stats
    assert s.vendor == vendor and s.fs_hz == rate and s.state == "stopped"
    assert s.sensor_id.startswith(f"{vendor}-") and link.address not in s.sensor_id
    assert s.loss_accounting == ("estimated" if vendor in ("metamotion", "witmotion") else "exact")
    assert s.battery_pct is not None and 0 < s.battery_pct <= 100
    assert s.samples_received >= 3 * rate and s.malformed_packets == 0
    assert s.reconnects == 0 and truth["samples_dropped"] == 0
    # exact vendors count no loss. Estimated ones (host arrival, no device time) may count a
    # few false losses when the host stalls longer than their hold (seen for MetaMotion
    # under two CPU burners; docs/vendors.md): at most 1 % of the samples
    estimated = s.loss_accounting == "estimated"
    if not estimated:
        assert s.samples_lost == 0
    else:
        assert s.samples_lost <= max(1, 0.01 * s.samples_received), (s.samples_lost, s.samples_received)
    # what was stored raw decodes again, with the settings the link kept, to the same samples
    packets = [p for p in link.packets]
    assert {p.sensor_id for p in packets} == {s.sensor_id}
    again = finish(stored_decoder({"vendor": vendor, "settings": s.decoder_settings}, s.sensor_id), packets)
    assert len(again.batch) == s.samples_received and again.samples_lost == s.samples_lost
    batch = again.batch
    if estimated and batch.gap_before.any():  # a (false) estimated gap shifts the counters after it
        cut = int(np.argmax(batch.gap_before))
        assert cut >= rate, "an estimated gap within the first second"
        batch = SimpleNamespace(counter=batch.counter[:cut], acc_mps2=batch.acc_mps2[:cut], gyr_rps=batch.gyr_rps[:cut])
    _check_physics(vendor, batch)


@pytest.mark.parametrize("vendor", VENDORS)
def test_vendor_flaky_link_counts_losses_and_reconnects_by_itself(vendor):
    rate = RATE_HZ[vendor]
    # the named profile: a refused first connection, a busy first write, 1 % of the
    # notifications dropped and 0.5 % corrupted, up to two disconnections after 1-2 s
    with simulated_sensors(1, vendors=[vendor], fault_profile="flaky") as emu, emu.activated():
        link, truth = asyncio.run(_stream(emu, vendor, 5 * rate, scan=False))
    s = link.stats
    assert s.reconnects >= 1 and s.disconnects == truth["disconnects_unsolicited"] >= 1
    assert s.malformed_packets == truth["packets_malformed"]
    dropped = truth["samples_dropped"]  # on the air, corrupted and while the link was down, between received ones
    assert dropped > 0
    again = finish(stored_decoder({"vendor": vendor, "settings": s.decoder_settings}, s.sensor_id), link.packets)
    if s.loss_accounting == "exact":
        assert again.samples_lost == s.samples_lost
    else:  # the host-arrival estimate is not chunk-invariant: decoded at once it differs by a few
        assert abs(again.samples_lost - s.samples_lost) <= max(3, 0.1 * s.samples_lost)
    if vendor == "dot":  # one sample per notification, µs stamps: exact
        assert s.samples_lost == dropped
    elif vendor == "polar":  # ACC and GYRO frames (the truth counts both) lost separately; a pair needs both
        assert dropped / 2 <= s.samples_lost <= dropped
    else:
        # estimated from host arrival (no device time): a host delay at the edge of a gap (a
        # reconnection) reads as that much more loss; the decoder absorbs delays up to its
        # hold only inside a stream. Allowed: one hold's worth of samples per gap (each
        # reconnection, plus one). Seen: WitMotion 199 counted vs 142 dropped under two CPU
        # burners. A loss is never hidden: the lower bounds stay tight.
        hold_s = stored_decoder({"vendor": vendor, "settings": s.decoder_settings}, s.sensor_id).get_params()["hold_s"]
        host_delay = round(hold_s * rate) * (truth["disconnects_unsolicited"] + 1)
        if vendor == "witmotion":
            tol = max(3, 0.2 * dropped)
            assert dropped - tol <= s.samples_lost <= dropped + tol + host_delay, (s.samples_lost, dropped)
        else:  # metamotion: acc and gyro notifications (the truth counts both) lost separately
            assert dropped / 2 - 3 <= s.samples_lost <= dropped + 3 + host_delay, (s.samples_lost, dropped)
    if vendor in ("dot", "polar"):  # exact timing: every sample where its counter says
        _check_physics(vendor, again.batch)


def test_polar_h10_streams_acc_only_at_200_hz():
    """The H10 is told apart by its name: ACC only (raw int16 frames), 200 Hz, NaN gyroscope."""
    with simulated_sensors(1, vendors=["polar"], model="H10") as emu, emu.activated():

        async def go() -> SensorLink:
            advert = await find_sensor(sensor_address(0), 30.0, vendors=True)
            assert advert is not None and (advert.vendor, advert.model) == ("polar", "H10")
            link = SensorLink(advert, "trunk", keep_packets=True)
            link.start()
            await link.wait_streaming(30.0)
            while link.stats.samples_received < 400:
                await asyncio.sleep(0.05)
            await link.stop()
            return link

        link = asyncio.run(go())
    s = link.stats
    assert s.fs_hz == 200 and s.decoder_settings["gyroscope"] is False and s.samples_lost == 0
    batch = finish(stored_decoder({"vendor": "polar", "settings": s.decoder_settings}, s.sensor_id), link.packets).batch
    assert np.isnan(batch.gyr_rps).all() and len(batch) == s.samples_received
    sim = VENDOR_PERIPHERALS["polar"](0, model="H10").readings(200)
    first = np.flatnonzero(np.all(np.abs(sim.acc_mps2 - batch.acc_mps2[0]) <= 9.80665e-3, axis=1))
    assert any(
        np.all(np.abs(sim.acc_mps2[(k0 + batch.counter - batch.counter[0]) % len(sim)] - batch.acc_mps2) <= 9.80665e-3)
        for k0 in first
    )

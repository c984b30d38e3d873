"""The live view of ``dmi-sensors record --live``: the server's access rules, its shipped
assets, and a real browser (Debian's headless Chromium through Selenium and the system
chromedriver; nothing is downloaded) driving a recording of two virtual sensors through
bleak and the emulated BlueZ.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dmi_sensors.live import LiveHub, LiveParams, replay_stored
from dmi_sensors.live.metrics import events_from_table
from dmi_sensors.live.server import LiveServer, is_loopback

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
STATIC = Path(__file__).resolve().parent.parent / "src" / "dmi_sensors" / "live" / "static"

PLAN = """plan_format = 1
name = "live view test"

[[exercises]]
catalogue = "sit_table_trunk"
target_repetitions = 3
hold_s = 3.0

[[exercises]]
catalogue = "four_point_floor_hips"
target_repetitions = 2
hold_s = 3.0
"""


# ----------------------------------------------------------------------------- access
async def _get(url: str, **kwargs):
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url, allow_redirects=False, **kwargs) as r:
        return r.status, await r.read(), dict(r.headers), r.cookies


async def test_on_a_non_loopback_host_every_request_without_the_token_is_refused():
    import aiohttp

    server = LiveServer(LiveHub(), host="0.0.0.0", port=0)
    url = await server.start()
    try:
        assert server.token and len(server.token) >= 24 and f"?token={server.token}" in url
        base = f"http://127.0.0.1:{server.bound_port}"
        for path in ("/", "/static/live.js", "/static/live.css", "/ws", "/?token=wrong", "/static/live.js?token=x"):
            status, body, _, _ = await _get(base + path)
            assert status == 403, path
            assert b"token" in body
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with aiohttp.ClientSession() as s, s.ws_connect(base + "/ws"):
                pass
        # with the token: the page, which leaves the token in an HTTP-only same-site cookie
        status, body, headers, cookies = await _get(f"{base}/?token={server.token}")
        assert status == 200 and b"<title>dmi-sensors live</title>" in body
        morsel = cookies["dmi_live_token"]
        assert morsel.value == server.token and morsel["httponly"] and morsel["samesite"] == "Strict"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        # the cookie lets the page's assets and WebSocket in
        jar = {"dmi_live_token": server.token}
        status, _, _, _ = await _get(base + "/static/live.js", cookies=jar)
        assert status == 200
        async with aiohttp.ClientSession(cookies=jar) as s, s.ws_connect(base + "/ws") as ws:
            hello = json.loads((await ws.receive()).data)
            assert hello["type"] == "hello" and hello["actions"] == [
                "next_exercise",
                "next_repetition",
                "pause",
                "note",
                "stop",
            ]
        assert server.refused >= 7
    finally:
        await server.stop()


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (the route to a TEST-NET address; a
    UDP connect sends nothing), or None."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if is_loopback(address) or address == "0.0.0.0" else address


async def test_updates_are_compressed_only_for_a_page_on_another_machine():
    import aiohttp

    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    server = LiveServer(LiveHub(), host="0.0.0.0", port=0)
    await server.start()
    try:
        jar = {"dmi_live_token": server.token or ""}
        negotiated = {}
        for peer in ("127.0.0.1", address):
            async with (
                aiohttp.ClientSession(cookies=jar) as s,
                s.ws_connect(f"http://{peer}:{server.bound_port}/ws", compress=15) as ws,
            ):
                assert json.loads((await ws.receive()).data)["type"] == "hello"
                negotiated[peer] = ws.compress
        # the client offered permessage-deflate both times; the server took it only from
        # the peer that is not this computer's loopback
        assert negotiated == {"127.0.0.1": 0, address: 15}
    finally:
        await server.stop()


async def test_on_localhost_no_token_but_only_local_host_names():
    server = LiveServer(LiveHub(), port=0)
    url = await server.start()
    try:
        assert server.token is None and url == f"http://127.0.0.1:{server.bound_port}/"
        base = f"http://127.0.0.1:{server.bound_port}"
        assert (await _get(base + "/"))[0] == 200
        assert (await _get(base + "/static/live.css"))[0] == 200
        assert (await _get(base + "/static/../server.py"))[0] == 404
        assert (await _get(base + "/static/nothing.js"))[0] == 404
        # a page of another site that resolves its name to 127.0.0.1 (DNS rebinding) is refused
        assert (await _get(base + "/", headers={"Host": "evil.example:80"}))[0] == 403
        assert (await _get(base + "/", headers={"Host": f"localhost:{server.bound_port}"}))[0] == 200
    finally:
        await server.stop()


def test_loopback_detection_and_a_busy_port_is_a_clear_error():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.5.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20") and not is_loopback("::")

    async def twice():
        from dmi_sensors.live.server import LiveServerError

        first = LiveServer(LiveHub(), port=0)
        await first.start()
        try:
            with pytest.raises(LiveServerError, match="cannot listen"):
                await LiveServer(LiveHub(), port=first.bound_port).start()
        finally:
            await first.stop()

    asyncio.run(twice())


def test_every_asset_is_shipped_and_nothing_is_fetched_from_elsewhere():
    names = sorted(p.name for p in STATIC.iterdir())
    assert names == ["favicon.svg", "index.html", "live.css", "live.js"]
    for p in STATIC.iterdir():
        text = p.read_text()
        # no CDN, no web font, no external script: the only URLs are the page's own
        urls = [
            u for u in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text) if "w3.org/2000/svg" not in u
        ]
        assert urls == [], (p.name, urls)
    html = (STATIC / "index.html").read_text()
    for label in ("Next exercise", "Next repetition", "Pause", "Note", "Stop"):
        assert f">{label} <kbd>" in html  # a real <button> each: focusable, Enter/Space, touch
    assert 'name="viewport"' in html


# ----------------------------------------------------------------------------- browser
def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _keys_replayed(plan, stored, note_text):
    """The events the terminal keys give for the same actions at the same times."""
    from dmi_sensors.session import KeyTagger, Tagger

    t = {"now": 0.0}
    keys = KeyTagger(Tagger(plan, clock=lambda: t["now"], start_s=0.0), output=None)
    ex = stored[stored["kind"] == "exercise"].sort_values("onset_s")
    reps = stored[stored["kind"] == "repetition"].sort_values("onset_s")
    pause = stored[stored["kind"] == "pause"].iloc[0]
    note = stored[stored["kind"] == "note"].iloc[0]
    actions = [(float(ex.iloc[0].onset_s), "n")]
    actions += [(float(r.onset_s), "r") for r in reps.itertuples() if r.repetition > 1]
    actions += [
        (float(ex.iloc[1].onset_s), "n"),
        (float(pause.onset_s), " "),
        (float(pause.onset_s + pause.duration_s), " "),
    ]
    actions += [
        (float(note.onset_s), "t" + note_text + "\r"),
        (float(ex.iloc[-1].onset_s + ex.iloc[-1].duration_s), "q"),
    ]
    for at, key in sorted(actions, key=lambda a: a[0]):
        t["now"] = at
        for ch in key:
            keys.handle_key(ch)
    return keys.tagger.events()


@pytest.mark.bluez
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon not installed")
def test_a_browser_tags_a_live_recording_and_stops_it(tmp_path):
    """Tiles appear, traces move, buttons (touch and keyboard) tag through the same tagger
    as the keys, results appear at each repetition's end, Stop ends the recording with its
    summary; the live results equal the stored recording replayed offline."""
    import pandas as pd
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from dmi_sensors.session import Plan
    from dmi_sensors.store import SessionStore

    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver)")
    (tmp_path / "plan.toml").write_text(PLAN)
    db = tmp_path / "live.sqlite"
    summary_path = tmp_path / "summary.json"
    cmd = [
        sys.executable, "-m", "dmi_sensors", "record", "--simulate-sensors", "2", "--plan", "plan.toml",
        "--live", "--live-port", "0", "--duration-s", "600", "--db", str(db), "--subject-id", "C017",
        "--com-height-m", "0.55", "--json", str(summary_path),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    driver = None
    try:
        line = proc.stdout.readline()
        assert line.startswith("live view: http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        url = line.split()[2]
        driver = _browser()
        wait = WebDriverWait(driver, 90, poll_frequency=0.05)
        driver.get(url)
        tiles = lambda d: d.find_elements(By.CSS_SELECTOR, ".tile[data-state=streaming]")  # noqa: E731
        wait.until(lambda d: len(tiles(d)) == 2)
        placements = sorted(t.find_element(By.CLASS_NAME, "placement").text for t in tiles(driver))
        assert placements == ["pelvis", "trunk"]
        assert all("battery" in t.text and "lost 0" in t.text for t in tiles(driver))
        # the traces move: more points arrive for both sensors
        points = lambda d: [int(t.get_attribute("data-points") or 0) for t in tiles(d)]  # noqa: E731
        first = points(driver)
        wait.until(lambda d: all(b > a + 20 for a, b in zip(first, points(d), strict=True)))

        def hold_s(d) -> float:
            text = d.find_element(By.ID, "hold-timer").text.split()
            return float(text[0]) if text and text[0] != "—" else -1.0

        results = lambda d: d.find_elements(By.CSS_SELECTOR, "#results tbody tr")  # noqa: E731
        driver.find_element(By.ID, "btn-next-exercise").click()  # touch / mouse
        wait.until(lambda d: d.find_element(By.ID, "exercise").get_attribute("data-id") == "sit_table_trunk")
        assert driver.find_element(By.ID, "support").text == "trunk"
        assert driver.find_element(By.ID, "posture").text == "sitting"
        # the hold timer runs to the plan's 3 s and then shows the cue
        wait.until(lambda d: d.find_element(By.ID, "hold").get_attribute("data-done") == "true")
        assert driver.find_element(By.ID, "hold-done").is_displayed()
        assert driver.find_element(By.ID, "hold-done").text == "HOLD DONE"
        wait.until(lambda d: hold_s(d) >= 4.5)
        driver.find_element(By.ID, "btn-next-repetition").click()
        # repetition 1's result for both sensors, as soon as it ended
        wait.until(lambda d: len(results(d)) == 2)
        assert all("COM RMS AP" in r.text for r in results(driver))
        assert driver.find_element(By.ID, "repetition").text == "2 / 3"
        wait.until(lambda d: hold_s(d) >= 4.5)
        # keyboard: the page's shortcut (as the terminal key) ...
        driver.find_element(By.TAG_NAME, "body").send_keys("r")
        wait.until(lambda d: d.find_element(By.ID, "repetition").text == "3 / 3")
        wait.until(lambda d: len(results(d)) == 4)
        wait.until(lambda d: hold_s(d) >= 4.5)
        # ... and a focused button activated with Enter
        button = driver.find_element(By.ID, "btn-next-exercise")
        driver.execute_script("arguments[0].focus()", button)
        button.send_keys(Keys.ENTER)
        wait.until(lambda d: d.find_element(By.ID, "exercise").get_attribute("data-id") == "four_point_floor_hips")
        wait.until(lambda d: len(results(d)) == 6)
        driver.find_element(By.ID, "btn-pause").click()
        wait.until(lambda d: d.find_element(By.ID, "btn-pause").text.startswith("Resume"))
        driver.find_element(By.ID, "btn-pause").click()
        wait.until(lambda d: d.find_element(By.ID, "btn-pause").text.startswith("Pause"))
        driver.find_element(By.ID, "btn-note").click()
        box = driver.find_element(By.ID, "note-text")
        wait.until(lambda d: box.is_displayed())
        box.send_keys("child laughed, reached well")
        driver.find_element(By.ID, "note-save").click()
        wait.until(lambda d: hold_s(d) >= 4.5)
        shots = [tmp_path / "live-view.png"]
        if os.environ.get("DMI_SENSORS_SCREENSHOT_DIR"):
            shots.append(Path(os.environ["DMI_SENSORS_SCREENSHOT_DIR"]) / "live-view.png")
        for shot in shots:
            assert driver.save_screenshot(str(shot))
        # Stop needs a second tap (a stray touch must not end a session)
        stop = driver.find_element(By.ID, "btn-stop")
        stop.click()
        assert stop.text.startswith("Tap again")
        stop.click()
        wait.until(lambda d: d.find_element(By.ID, "stopped").is_displayed())
        overlay = driver.find_element(By.ID, "stopped").text
        assert "Recording stopped" in overlay and "Session 1 saved." in overlay
        assert all(b.get_attribute("disabled") for b in driver.find_elements(By.CSS_SELECTOR, "#controls button"))
        out, err = proc.communicate(timeout=300)  # an upper bound: finalising on a busy machine
    finally:
        if driver is not None:
            driver.quit()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert re.search(r"^session 1\b.* in ", out, re.M), out  # the CLI's summary
    summary = json.loads(summary_path.read_text())
    assert all(
        row["samples_lost"] == 0 and row["samples_received"] == row["samples_sent"]
        for row in summary["sensors"].values()
    )
    live = summary["live"]
    for kind in ("metric", "stored", "screen"):
        assert live["latency"][kind]["n"] > 0, kind

    # the buttons made exactly the rows the terminal keys make for the same actions
    store = SessionStore(db)
    stored = store.events(1)
    assert sorted(stored["kind"].unique()) == ["exercise", "note", "pause", "repetition"]
    assert set(stored["source"]) == {"manual"}
    plan = Plan.read(tmp_path / "plan.toml")
    expected = _keys_replayed(plan, stored, "child laughed, reached well")
    cols = [c for c in expected.columns if c in stored.columns]
    pd.testing.assert_frame_equal(
        stored[cols].sort_values(["onset_s", "kind"]).reset_index(drop=True),
        expected[cols].sort_values(["onset_s", "kind"]).reset_index(drop=True),
        check_dtype=False,
    )

    # the live value at each repetition's end equals the stored recording replayed offline
    info = store.session_info(1)
    events = events_from_table(stored)
    params = LiveParams.from_analysis(None, 0.55)
    offline = []
    for s in info.sensors:
        offline += replay_stored(store.raw_packets(1, s.sensor_id), s.sensor_id, s.placement, events, params).results
    assert len(live["repetitions"]) == len(offline) == 8  # 3 + 1 repetitions x 2 sensors
    by_key = {(r.sensor_id, r.exercise, r.repetition): r.to_dict() for r in offline}
    for got in live["repetitions"]:
        assert got == by_key[(got["sensor_id"], got["exercise"], got["repetition"])]
    assert all(r["status"] == "ok" for r in live["repetitions"])
    kinds = {(r["exercise"], r["kind"]) for r in live["repetitions"]}
    assert kinds == {("sit_table_trunk", "com"), ("four_point_floor_hips", "tilt")}  # COM or tilt by posture
    store.close()

"""Screenshots of the planners' dashboard for the docs: `docs/dashboard-{ru,en}.png` and `-phone.png`.

Usage: `.venv/bin/python -m bench.screenshots [--out docs] [--world sample] [--days 760] [--width 1366]
[--height 768] [--viewport-only]`, or `--url http://127.0.0.1:8000 --key KEY` to photograph a running server.

Without `--url` it generates a sample world in a temporary folder, ingests and trains it as `needcast demo`
does (needs and demand models: several minutes on two cores), serves it, and photographs the page 1366 pixels
wide in Russian and in English, at full page height unless `--viewport-only` (then 1366x768), showing the
`--segment` (default pensioners, where the sample world plants an emerging need); then at a phone's width
(`--phone-width`, default 390, as a 390x844 phone; 0: none) in both languages. The browser is Debian's
headless Chromium (`apt-get install chromium chromium-driver`), never a downloaded one; the end-to-end tests
of the dashboard use `chromium_driver` too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

__all__ = ["CHROMEDRIVER", "CHROMIUM", "chromium_driver", "chromium_missing", "wait_for_panels"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run")
PANELS = ("forecast-chart", "model-info", "emerging-needs", "suggestions", "staffing", "events")
SHOT_KEY = "screenshot-admin-key"
PHONE_HEIGHT = 844  # a common phone's CSS viewport (390x844)


def chromium_missing() -> str | None:
    """Why the headless browser cannot run here, or None when it can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"{' and '.join(missing)} missing: apt-get install -y chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


@contextlib.contextmanager
def chromium_driver(width: int = 1366, height: int = 768, download_dir: Path | None = None) -> Iterator:
    """A headless Chromium under Selenium with a fresh profile, removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="needcast-chromium-") as profile:
        options = Options()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "--lang=ru-RU"):
            options.add_argument(flag)
        if download_dir is not None:
            options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                                      "download.prompt_for_download": False})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        try:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            yield driver
        finally:
            driver.quit()


def wait_for_panels(driver, timeout: float = 30) -> dict[str, str]:
    """Wait until no dashboard panel is loading; returns each panel's `data-state`."""
    from selenium.webdriver.support.ui import WebDriverWait

    script = ("return Object.fromEntries([...document.querySelectorAll('.panel')]"
              ".map(p => [p.dataset.testid, p.dataset.state || '']))")

    def settled(d) -> dict[str, str] | bool:
        states = d.execute_script(script)
        return states if states and all(s and s != "loading" for s in states.values()) else False

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(settled)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(folder: Path) -> Iterator[str]:
    port = _free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "needcast", "serve", "--port", str(port)], cwd=folder,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: see {folder / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _prepare_world(folder: Path, world: str, days: int) -> None:
    """Generate, ingest and train a sample world whose stores all live in `folder`."""
    os.environ.update({
        "NEEDCAST_HOME": str(folder / "home"), "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlruns/mlflow.db",
        "NEEDCAST_MLFLOW_ARTIFACT_ROOT": str(folder / "mlruns"), "NEEDCAST_API_KEYS": f"{SHOT_KEY}:admin",
    })
    os.environ.pop("NEEDCAST_DATABASE_URL", None)
    (folder / "mlruns").mkdir(parents=True, exist_ok=True)
    from features.contract import Kind
    from needcast.jobs import ingest_files, run_training
    from needcast.sample_data import generate_world
    from needcast.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    files = generate_world(folder / "world", world=world, days=days)
    print(f"ingesting the {world} world ({days} days)", file=sys.stderr)
    ingest_files(settings, {Kind.services: files.services, Kind.usage: files.usage, Kind.feedback: files.feedback})
    _ingest_planner_files(settings, files)
    run_training(settings, step=lambda message: print(f"training: {message}", file=sys.stderr, flush=True))


def _ingest_planner_files(settings, files) -> None:
    """The world's name catalogues, and its past campaigns as registered events (what the what-if learns from)."""
    import pandas as pd

    from features.catalogues import ingest_catalogue
    from features.events import ingest_events
    from features.readers import read_table
    from store.engine import get_engine

    engine = get_engine(settings.db_url)
    folder = files.usage.parent
    for kind in ("segments", "regions"):
        if (folder / f"{kind}.csv").exists():
            ingest_catalogue(engine, read_table(folder / f"{kind}.csv"), kind, str(folder / f"{kind}.csv"))
    campaigns = files.truth.get("events") or []
    if campaigns:
        events = pd.DataFrame([{"name": e["name"], "start": e["start"], "end": e["end"], "kind": "campaign",
                                "services": ";".join(e["services"]), "segments": ";".join(e["segments"]),
                                "regions": ""} for e in campaigns])
        ingest_events(engine, events, "truth.json")


def _show_scenario(driver, url: str, key: str, service: str | None) -> None:
    """Fill the what-if form with a campaign in the forecast's second and third weeks; wait for its chart."""
    import datetime as dt

    from selenium.webdriver.support.ui import Select, WebDriverWait

    answer = httpx.get(f"{url}/v1/forecasts", params={"horizon": 1}, headers={"X-API-Key": key}, timeout=60)
    until = dt.date.fromisoformat(answer.json()["data_until"])
    days = [(until + dt.timedelta(days=n)).isoformat() for n in (8, 21)]
    driver.find_element("css selector", "[data-testid=event-name]").send_keys("СМС-рассылка о перерасчёте пенсии")
    for field, day in zip(("event-start", "event-end"), days, strict=True):
        driver.execute_script("arguments[0].value = arguments[1]",
                              driver.find_element("css selector", f"[data-testid={field}]"), day)
    select = Select(driver.find_element("css selector", "[data-testid=event-service]"))
    if service and service in [o.get_attribute("value") for o in select.options]:
        select.select_by_value(service)
    driver.find_element("css selector", "[data-testid=event-scenario]").click()
    WebDriverWait(driver, 60, poll_frequency=0.2).until(
        lambda d: d.find_elements("css selector", "[data-testid=scenario] svg polyline"))


def take_screenshots(url: str, key: str, out: Path, width: int, height: int, full_page: bool,
                     segment: str | None = None, scenario_service: str | None = None,
                     phone_width: int | None = 390) -> list[Path]:
    """Photograph the dashboard at `url` in Russian and in English (and in Russian at a phone's width, the
    what-if panel showing a scenario); returns the files written."""
    from selenium.webdriver.support.ui import Select

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with chromium_driver(width, height) as driver:
        driver.get(f"{url}/#key={key}")
        wait_for_panels(driver, timeout=60)
        select = Select(driver.find_element("css selector", "[data-testid=segment-select]"))
        if segment and segment in [o.get_attribute("value") for o in select.options]:
            select.select_by_value(segment)
        wait_for_panels(driver, timeout=60)
        _show_scenario(driver, url, key, scenario_service)
        for lang in ("ru", "en"):
            if driver.execute_script("return document.documentElement.lang") != lang:
                driver.find_element("css selector", "[data-testid=lang-toggle]").click()
            states = wait_for_panels(driver, timeout=60)
            driver.execute_script("document.activeElement?.blur()")  # no focus ring in the picture
            time.sleep(0.5)  # charts are drawn on the next animation frame
            page_height = driver.execute_script("return document.documentElement.scrollHeight")
            if full_page:
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                    "width": width, "height": max(height, page_height), "deviceScaleFactor": 1, "mobile": False})
                time.sleep(0.3)
            path = out / f"dashboard-{lang}.png"
            driver.save_screenshot(str(path))
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            print(f"{path}: {width}x{max(height, page_height) if full_page else height}, panels {states}",
                  file=sys.stderr)
            written.append(path)
        for lang in ("ru", "en") if phone_width else ():
            if driver.execute_script("return document.documentElement.lang") != lang:
                driver.find_element("css selector", "[data-testid=lang-toggle]").click()
            phone = {"width": phone_width, "height": PHONE_HEIGHT, "deviceScaleFactor": 1, "mobile": True}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
            wait_for_panels(driver, timeout=60)
            driver.execute_script("window.dispatchEvent(new Event('resize'))")
            driver.execute_script("document.activeElement?.blur()")
            time.sleep(0.8)  # charts redraw at the new width on the next animation frame
            page_height = driver.execute_script("return document.documentElement.scrollHeight")
            overflow = driver.execute_script("return document.documentElement.scrollWidth") - phone_width
            if full_page:
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                       {**phone, "height": max(PHONE_HEIGHT, page_height)})
                time.sleep(0.3)
            path = out / f"dashboard-{lang}-phone.png"
            driver.save_screenshot(str(path))
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
            print(f"{path}: {phone_width}x{max(PHONE_HEIGHT, page_height) if full_page else PHONE_HEIGHT}, "
                  f"horizontal overflow {max(overflow, 0)} px", file=sys.stderr)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    parser.add_argument("--world", default="events", help="a world with past campaigns, so the what-if shows one")
    parser.add_argument("--days", type=int, default=760, help="days of generated history")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--viewport-only", action="store_true", help="no full-page height")
    parser.add_argument("--segment", default="pensioners", help="segment shown, when the world has it")
    parser.add_argument("--scenario-service", default="pension_recalculation",
                        help="service of the what-if campaign shown, when the segment has it")
    parser.add_argument("--phone-width", type=int, default=390, help="also at this phone width (0: no)")
    parser.add_argument("--url", help="photograph this running server instead of a fresh sample world")
    parser.add_argument("--key", help="API key for --url (admin shows every panel)")
    args = parser.parse_args(argv)
    if reason := chromium_missing():
        sys.exit(f"error: {reason}")
    if args.url:
        if not args.key:
            sys.exit("error: --url needs --key")
        take_screenshots(args.url.rstrip("/"), args.key, args.out, args.width, args.height, not args.viewport_only,
                         args.segment, args.scenario_service, args.phone_width)
        return
    with tempfile.TemporaryDirectory(prefix="needcast-screenshots-") as tmp:
        folder = Path(tmp)
        _prepare_world(folder, args.world, args.days)
        with _serve(folder) as url:
            take_screenshots(url, SHOT_KEY, args.out, args.width, args.height, not args.viewport_only, args.segment,
                             args.scenario_service, args.phone_width)


if __name__ == "__main__":
    main()

"""The planners' dashboard in a real headless Chromium (Debian's, under Selenium) against a real uvicorn."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from bench.screenshots import chromium_driver, chromium_missing, wait_for_panels
from features.contract import Kind
from features.ingest import ingest_frame
from features.store import get_engine
from needcast.jobs import run_training
from needcast.sample_texts import compose_text
from needcast.settings import Settings, get_settings
from tests.conftest import isolate, make_usage, skip_unless_required
from tests.e2e.conftest import Server
from training.config import DemandConfig
from training.emergence import EmergenceConfig
from training.needs_training import NeedsConfig
from training.topics import TopicConfig

if reason := chromium_missing():
    skip_unless_required(f"the dashboard tests need a headless browser: {reason}", allow_module_level=True)

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

PANELS = ("forecast-chart", "model-info", "emerging-needs", "suggestions", "staffing")
SERVICES = pd.DataFrame({
    "service": ["svc0", "svc1", "svc2"], "name": ["Паспорт", "Пособие на ребёнка", "Регистрация рождения"],
    "description": ["", "", ""], "life_event": [None, "birth_of_child", "birth_of_child"],
    "handle_minutes": ["10", "20", "15"],
})


def _feedback(end: str = "2026-06-30", seed: int = 3) -> pd.DataFrame:
    """Generated feedback: steady topics in both segments, one need emerging in seg0 over the last 3 weeks."""
    rnd = random.Random(seed)
    last = pd.Timestamp(end)
    rows = []
    for day in pd.date_range(last - pd.Timedelta(days=90), last):
        for topic, segment, service in (("mfc_queues", "seg0", "svc0"), ("staff_praise", "seg1", "svc0"),
                                        ("pension_recalc", "seg1", "svc2"), ("mfc_queues", "seg1", "svc0")):
            rows.append((topic, segment, service, day))
        if day > last - pd.Timedelta(days=21):
            rows += [("child_benefits", "seg0", "svc1", day)] * 3
    return pd.DataFrame([
        {"id": f"fb{i}", "created_at": (day + pd.Timedelta(hours=rnd.randint(8, 19))).isoformat(),
         "segment": segment, "service": service, "region": "center", "channel": "portal",
         "rating": str(rnd.choice([1, 2, 3]) if topic != "staff_praise" else 5),
         "text": compose_text(topic, rnd)}
        for i, (topic, segment, service, day) in enumerate(rows)
    ])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A small world (3 services, 2 segments, 2 regions) with feedback and quickly trained champions."""
    with pytest.MonkeyPatch.context() as mp:
        settings = isolate(tmp_path_factory.mktemp("dashboard"), mp)
        engine = get_engine(settings.db_url)
        ingest_frame(engine, SERVICES, Kind.services)
        ingest_frame(engine, make_usage(days=400, regions=("center", "north")).astype({"count": str}), Kind.usage)
        ingest_frame(engine, _feedback(), Kind.feedback)
        lgbm = {**DemandConfig().lgbm, "n_estimators": 60}
        needs = NeedsConfig(topics=TopicConfig(texts_per_topic=20, recent_texts_per_topic=10),
                            emergence=EmergenceConfig(recent_days=21, baseline_days=42))
        run_training(settings, config=DemandConfig(backtest_windows=2, lgbm=lgbm), needs_config=needs)
        yield settings
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(server: Server, downloads: Path) -> Iterator:
    with chromium_driver(1366, 768, download_dir=downloads) as driver:
        driver.set_page_load_timeout(30)
        yield driver


def open_dashboard(browser, server: Server, key: str | None) -> None:
    """A fresh page load (no session left over), signed in through the URL fragment when `key` is given."""
    browser.get("about:blank")
    browser.get(server.url + "/")
    browser.execute_script("sessionStorage.clear(); localStorage.clear();")
    browser.get("about:blank")
    browser.get(server.url + (f"/#key={key}" if key else "/"))


def part(browser, name: str):
    return browser.find_element(By.CSS_SELECTOR, f"[data-testid={name}]")


def wait_until(browser, condition, timeout: float = 20):
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def test_page_and_assets_come_from_the_app_itself(server: Server) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(assets) == ["/static/dashboard.css", "/static/dashboard.js"]
    outside = re.compile(r"https?://(?!www\.w3\.org/2000/svg)")  # the SVG namespace is a name, not a fetch
    for path in assets:
        body = httpx.get(server.url + path)
        assert body.status_code == 200 and not outside.search(body.text), path
    assert not outside.search(page.text)
    days = httpx.get(server.url + "/static/holidays/2026.json").json()
    assert days["2026-11-04"] == {"ru": "День народного единства", "en": "Unity Day"}
    assert httpx.get(server.url + "/static/secrets.txt").status_code == 404


def test_a_fragment_key_signs_in_and_every_panel_gets_content(browser, server: Server) -> None:
    open_dashboard(browser, server, "admin-key")
    states = wait_for_panels(browser)
    assert "key=" not in browser.current_url and "admin-key" not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('needcast.key')") == "admin-key"
    assert browser.execute_script("return document.documentElement.lang") == "ru"
    assert {states[p] for p in ("forecast-chart", "model-info", "staffing")} == {"ready"}
    assert states["suggestions"] == "ready" and states["emerging-needs"] == "ready"
    for name in PANELS:
        assert len(part(browser, name).find_element(By.CLASS_NAME, "panel-body").text.strip()) > 10, name

    segments = [o.get_attribute("value") for o in Select(part(browser, "segment-select")).options]
    assert segments == ["seg0", "seg1"]
    assert [o.text for o in Select(part(browser, "service-select")).options] == ["Все услуги", "svc0", "svc1",
                                                                                    "svc2"]
    chart = part(browser, "forecast-chart")
    assert len(chart.find_elements(By.CSS_SELECTOR, "svg.line-chart polyline.p50")) == 3
    assert "28 дн." in chart.text and "30.06.2026" in chart.text
    model = part(browser, "model-info").text
    assert "v1" in model and "WAPE" in model and "сезонный наивный" in model and "%" in model
    staffing = part(browser, "staffing")
    assert len(staffing.find_elements(By.CSS_SELECTOR, "tbody tr")) == 3
    assert len(staffing.find_elements(By.CSS_SELECTOR, "thead th")) == 1 + 14
    needs = part(browser, "emerging-needs")
    # seg0 is shown first: its planted need, with growth, rating and example texts from the API.
    assert "рост" in needs.text and "оценка" in needs.text
    assert len(needs.find_elements(By.TAG_NAME, "blockquote")) >= 1
    # No horizontal scrolling at laptop width, and no script errors or blocked loads (CSP) in the console.
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert [m for m in errors if "Failed to load resource" not in m] == []


def test_keyboard_reaches_the_controls_with_a_visible_focus(browser, server: Server) -> None:
    open_dashboard(browser, server, "plan-key")
    wait_for_panels(browser)
    browser.execute_script("document.activeElement.blur()")
    body = browser.find_element(By.TAG_NAME, "body")
    reached = []
    for _ in range(8):
        body.send_keys(Keys.TAB) if not reached else browser.switch_to.active_element.send_keys(Keys.TAB)
        active = browser.switch_to.active_element
        reached.append(active.get_attribute("data-testid") or active.get_attribute("class"))
        if reached[-1] == "csv-download":
            break
    assert reached == ["skip", "lang-toggle", "sign-out", "segment-select", "region-select", "service-select",
                       "csv-download"]
    assert browser.switch_to.active_element.value_of_css_property("outline-style") == "solid"


def test_switching_segment_region_and_service_changes_the_chart(browser, server: Server) -> None:
    open_dashboard(browser, server, "plan-key")
    wait_for_panels(browser)
    chart = part(browser, "forecast-chart")

    def lines() -> list[str]:
        return [p.get_attribute("points") for p in chart.find_elements(By.CSS_SELECTOR, "polyline.p50")]

    before = lines()
    Select(part(browser, "segment-select")).select_by_value("seg1")
    wait_until(browser, lambda _: chart.get_attribute("data-selection") == "seg1|center|"
               and chart.get_attribute("data-state") == "ready")
    after = wait_until(browser, lambda _: len(lines()) == 3 and lines())
    assert after != before
    Select(part(browser, "service-select")).select_by_value("svc2")
    wait_until(browser, lambda _: chart.get_attribute("data-selection") == "seg1|center|svc2"
               and chart.get_attribute("data-state") == "ready")
    wait_until(browser, lambda _: len(lines()) == 1)
    assert len(part(browser, "staffing").find_elements(By.CSS_SELECTOR, "tbody tr")) == 1
    Select(part(browser, "region-select")).select_by_value("north")
    wait_until(browser, lambda _: chart.get_attribute("data-selection") == "seg1|north|svc2")


def test_language_toggle_changes_labels_and_server_texts(browser, server: Server) -> None:
    open_dashboard(browser, server, "admin-key")
    wait_for_panels(browser)
    suggestions_ru = part(browser, "suggestions").text
    part(browser, "lang-toggle").click()
    wait_until(browser, lambda d: d.execute_script("return document.documentElement.lang") == "en")
    wait_for_panels(browser)
    assert "Demand forecast" in part(browser, "forecast-chart").text
    assert "seasonal naive" in part(browser, "model-info").text
    assert part(browser, "segment-select").find_element(By.XPATH, "..").text.startswith("Segment")
    assert Select(part(browser, "service-select")).options[0].text == "All services"
    suggestions_en = part(browser, "suggestions").text
    assert suggestions_en.startswith("What to offer citizens") and suggestions_en != suggestions_ru
    assert "Прогноз" not in browser.find_element(By.TAG_NAME, "main").text
    # The choice survives a reload; switching back restores Russian.
    browser.refresh()
    wait_for_panels(browser)
    assert browser.execute_script("return document.documentElement.lang") == "en"
    part(browser, "lang-toggle").click()
    wait_until(browser, lambda _: "Прогноз спроса" in part(browser, "forecast-chart").text)


def test_csv_download_is_the_forecast_shown(browser, server: Server, downloads: Path) -> None:
    open_dashboard(browser, server, "plan-key")
    wait_for_panels(browser)
    part(browser, "csv-download").click()
    files = wait_until(browser, lambda _: [p for p in downloads.glob("*.csv")], timeout=15)
    time.sleep(0.2)
    frame = pd.read_csv(files[0])
    assert files[0].name == "needcast-forecast-seg0-center.csv"
    assert list(frame.columns) == ["service", "segment", "region", "date", "p10", "p50", "p90", "mean"]
    assert len(frame) == 3 * 28 and set(frame["segment"]) == {"seg0"} and set(frame["region"]) == {"center"}


def test_a_wrong_key_is_refused_in_words(browser, server: Server) -> None:
    open_dashboard(browser, server, "not-a-key")
    error = part(browser, "auth-error")
    wait_until(browser, lambda _: error.is_displayed())
    assert "401" in error.text and "Ключ не принят" in error.text
    assert not browser.find_element(By.ID, "dashboard").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('needcast.key')") is None
    # Signing in through the form with a good key works from there.
    box = part(browser, "key-input")
    box.send_keys("plan-key")
    part(browser, "sign-in-submit").click()
    states = wait_for_panels(browser)
    assert not error.is_displayed() and states["forecast-chart"] == "ready"


def test_a_key_of_the_wrong_role_gets_each_panels_message(browser, server: Server) -> None:
    open_dashboard(browser, server, "plan-key")
    states = wait_for_panels(browser)
    assert states["suggestions"] == "error"
    assert "403" in part(browser, "suggestions").text and "портал" in part(browser, "suggestions").text
    open_dashboard(browser, server, "portal-key")
    states = wait_for_panels(browser)
    assert states["forecast-chart"] == "error" and "403" in part(browser, "forecast-chart").text
    assert "планировщик" in part(browser, "global-status").text


def test_phone_width_has_no_sideways_scrolling(browser, server: Server) -> None:
    open_dashboard(browser, server, "plan-key")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    try:
        browser.refresh()
        wait_for_panels(browser)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        chart = part(browser, "forecast-chart").find_element(By.CSS_SELECTOR, "svg.line-chart")
        assert int(chart.get_attribute("width")) <= 390
    finally:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})

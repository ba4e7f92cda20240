"""The web page (server/rest/web/, served by Envoy at GET /) in a real browser: Debian's Chromium driven
by Playwright, against a real server with auth on behind a real Envoy."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.synth import render_label
from tests.conftest import REPO_ROOT
from tests.edge.conftest import Secrets

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Where the screenshot of a read photo is kept after the run (bench/out is never committed).
SCREENSHOT = REPO_ROOT / "bench" / "out" / "web-page.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium: make test installs Debian's chromium package (apt-get, as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                # A test-pattern camera, allowed without a prompt: getUserMedia works headless.
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, rest: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(rest + "/")
    yield page
    context.close()
    # A 401 the page shows on purpose is logged by Chromium as a failed resource; nothing else.
    assert [e for e in errors if "401" not in e] == [], errors


def _until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _labels(tmp_path: Path, lines: list[tuple[str, str]]) -> list[str]:
    paths = []
    for index, (first, second) in enumerate(lines):
        path = tmp_path / f"label-{index}.jpg"
        path.write_bytes(render_label([first, second], seed=7 + index))
        paths.append(str(path))
    return paths


def test_a_label_photo_is_read_with_its_date_verdict_and_picture(
    page, secrets: Secrets, tmp_path: Path
) -> None:
    page.fill("#api-key", secrets.keys["app"])
    page.dispatch_event("#api-key", "change")
    page.fill("#reference-date", "2026-11-01")
    page.set_input_files("#files", _labels(tmp_path, [("Use by", "16 NOV")]))
    card = page.locator(".result").first
    card.locator(".date", has_text="2026-11-16").wait_for(timeout=60_000)
    assert card.get_attribute("data-state") == "fresh"
    assert card.locator(".expiry").inner_text() == "15 days left"
    assert "expiry date" in card.locator(".detail").inner_text()
    picture = card.locator(".picture")
    assert picture.get_attribute("src").startswith("data:image/jpeg;base64,/9j/"), "the annotated picture"
    assert page.evaluate("(img) => img.naturalWidth", picture.element_handle()) > 100
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_several_photos_show_progress_and_an_expired_one_says_so(
    page, secrets: Secrets, tmp_path: Path
) -> None:
    page.fill("#api-key", secrets.keys["app"])
    page.fill("#reference-date", "2026-11-20")
    page.set_input_files(
        "#files", _labels(tmp_path, [("Use by", "16 NOV"), ("Use by", "28 NOV"), ("BEST", "BEFORE")])
    )
    page.locator("#progress-text", has_text="3 of 3 photos read").wait_for(timeout=120_000)
    states = sorted(page.locator(".result").evaluate_all("(cards) => cards.map((c) => c.dataset.state)"))
    assert states == ["expired", "fresh", "no-date"], states
    expired = page.locator(".result[data-state=expired] .expiry").inner_text()
    assert expired == "EXPIRED 4 days ago"


def test_without_the_key_the_page_says_to_enter_one(page, tmp_path: Path) -> None:
    page.set_input_files("#files", _labels(tmp_path, [("Use by", "16 NOV")]))
    card = page.locator(".result[data-state=failed]").first
    card.wait_for(timeout=30_000)
    assert "enter an API key" in card.locator(".detail").inner_text()


def test_a_photo_taken_with_the_camera_is_read(page, secrets: Secrets) -> None:
    page.fill("#api-key", secrets.keys["app"])
    page.click("#camera-open")
    # Polled from here: wait_for_function evaluates a string, which the page's CSP forbids.
    video = page.locator("#camera-video")
    _until(lambda: video.evaluate("(v) => v.videoWidth") > 0)
    page.click("#camera-shoot")
    card = page.locator(".result", has_text="camera-1.jpg")
    card.wait_for(timeout=30_000)
    _until(lambda: card.get_attribute("data-state") != "reading")
    # Chromium's fake camera films a test pattern: read, with no date on it.
    assert card.get_attribute("data-state") == "no-date"
    page.click("#camera-close")

"""The web page in real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium)
against the real gateway on Ray Serve: what a person does, with what a person sees."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GatewayUnderTest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
PHONE = (390, 844)  # CSS pixels of a common phone


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if CHROMIUM is None or DRIVER is None:
        pytest.fail("needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver "
                    "(.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1000,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def until(browser: WebDriver, condition: object, timeout: float = 30) -> object:
    """The page redraws its lists as answers come: an element read as it is replaced is read again."""
    return WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def sign_in(browser: WebDriver, subject: str) -> None:
    option = until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, f'#person option[data-subject="{subject}"]'))[0]
    Select(browser.find_element(By.ID, "person")).select_by_value(option.get_attribute("value"))
    browser.find_element(By.CSS_SELECTOR, "#who button").click()
    kind, _, key = subject.partition("/")
    until(browser, lambda b: b.find_element(By.ID, "signed-in").text.endswith(f"({kind} {key})"))


def status_of_request(browser: WebDriver, employee: str) -> str | None:
    cells = browser.find_elements(By.CSS_SELECTOR, f'tr[data-request-id^="{employee}."] .status')
    return cells[0].get_attribute("data-status") if cells else None


def test_an_employee_asks_the_manager_approves_from_the_inbox_and_the_employee_sees_it_approved(
        pto_gateway: GatewayUnderTest, browser: WebDriver, tmp_path: Path) -> None:
    browser.get(f"{pto_gateway.url}/")
    sign_in(browser, "employee/c1")

    browser.find_element(By.ID, "text").send_keys("next Thursday and Friday", Keys.ENTER)  # the keyboard submits
    until(browser, lambda b: status_of_request(b, "c1") == "waiting")  # two days: the manager decides

    sign_in(browser, "manager/m3")
    item = until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '#inbox li[data-request-id^="c1."]'))[0]
    assert "2026-12-03" in item.text and "gamma" in item.text  # the days, and the team's cover on each
    item.find_element(By.XPATH, ".//button[starts-with(normalize-space(.), 'Approve')]").click()
    until(browser, lambda b: not b.find_elements(By.CSS_SELECTOR, '#inbox li[data-request-id^="c1."]'))

    sign_in(browser, "employee/c1")
    until(browser, lambda b: status_of_request(b, "c1") == "approved")
    assert "2026-12-03, 2026-12-04" in browser.find_element(By.ID, "requests").text
    browser.save_screenshot(str(tmp_path / "approved.png"))
    assert (tmp_path / "approved.png").stat().st_size > 0


def test_the_page_fits_a_phone_screen_without_scrolling_sideways(pto_gateway: GatewayUnderTest,
                                                                  browser: WebDriver, tmp_path: Path) -> None:
    browser.set_window_size(*PHONE)
    browser.get(f"{pto_gateway.url}/")
    sign_in(browser, "manager/m1")
    until(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#calendars section"))

    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    browser.save_screenshot(str(tmp_path / "phone.png"))

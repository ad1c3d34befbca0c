"""Headless Chromium for the web page checks (Debian's chromium and
chromedriver through selenium), shared by index_web_check.py and
web_page_check.py.

    def steps(driver, seen): ...       # fills `seen`; wait_for() per step
    sys.exit(run_check("my_check", "1280,900", steps))

run_check prints one JSON line of `seen` and returns 0, or, when a step
times out, prints what was seen, the reason and the page's end, returns 1.
"""

import json
import os
import shutil
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service

STEP_SECONDS = 60


def wait_for(what, check, seconds=STEP_SECONDS):
    """Polls `check` until it returns something true; its value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("gave up waiting for " + what)


def severe_console_errors(driver, ignore=""):
    """The browser console's errors, leaving out those containing `ignore`."""
    return [e["message"] for e in driver.get_log("browser")
            if e.get("level") == "SEVERE"
            and not (ignore and ignore in e["message"])]


def run_check(name, window_size, steps):
    profile = tempfile.mkdtemp(prefix="trove-chromium-")
    os.environ.setdefault("HOME", profile)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--no-proxy-server",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--window-size=" + window_size, "--user-data-dir=" + profile):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                              options=options)
    seen = {"console_errors": []}
    try:
        steps(driver, seen)
    except TimeoutError as e:
        print(json.dumps(seen))
        print(name + ": " + str(e), file=sys.stderr)
        print(driver.page_source[-4000:], file=sys.stderr)
        return 1
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(seen))
    return 0

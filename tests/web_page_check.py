#!/usr/bin/python3
"""Drives the daemon's web page in headless Chromium, as a user would.

  web_page_check.py URL#token=T QUERY WHOLE_NAME CANCEL_NAME

Searches QUERY; clicks Get on the hit named WHOLE_NAME and watches its
progress bar until the download is done; clicks Get on CANCEL_NAME, waits
until some of it arrived, clicks Cancel and accepts the confirmation, and
waits until the download is gone. Prints one JSON line of what it saw
(the progress percentages shown, the hits, console errors) and exits 0;
exits 1 with a message when a step does not happen in time.
"""

import os
import sys

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from headless_chromium import run_check, severe_console_errors, wait_for  # noqa: E402


def download_row(driver, name):
    for row in driver.find_elements(By.CSS_SELECTOR, "#downloads tr.download"):
        if row.find_element(By.CSS_SELECTOR, "td.name").text == name:
            return row
    return None


def hit_row(driver, name):
    for row in driver.find_elements(By.CSS_SELECTOR, "#hits tr.hit"):
        if row.find_element(By.CSS_SELECTOR, "td.name").text == name:
            return row
    return None


def click(element):
    """Clicks and says so, for wait_for: the lists are drawn again every
    second, so an element found a moment ago may be gone (stale) by now."""
    element.click()
    return True


def percent(row):
    return int(row.find_element(By.CSS_SELECTOR, ".pct").text.rstrip("%"))


def main(argv):
    if len(argv) != 5 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) == 2 else 2
    url, query, whole, cancel = argv[1:]

    def steps(driver, seen):
        seen.update({"progress": [], "hits": []})
        driver.get(url)
        wait_for("the page to reach the daemon",
                 lambda: driver.find_element(By.ID, "peer").text.startswith("peer "))
        seen["token_left_in_address"] = "token=" in driver.current_url

        driver.find_element(By.ID, "q").send_keys(query)
        driver.find_element(By.ID, "search-button").click()
        wait_for("the hits", lambda: hit_row(driver, whole) and hit_row(driver, cancel))
        seen["hits"] = wait_for("the hits' names", lambda: [
            r.find_element(By.CSS_SELECTOR, "td.name").text
            for r in driver.find_elements(By.CSS_SELECTOR, "#hits tr.hit")])
        seen["search_note"] = driver.find_element(By.ID, "search-note").text

        # One click gets the file; the bar fills to 100%.
        wait_for("a Get button to click", lambda: click(
            hit_row(driver, whole).find_element(By.CSS_SELECTOR, "button.get")))
        wait_for("the Get button to say Added",
                 lambda: hit_row(driver, whole).find_element(
                     By.CSS_SELECTOR, "button.get").text == "Added")

        def done():
            row = download_row(driver, whole)
            if row is None:
                return False
            pct = percent(row)
            if not seen["progress"] or seen["progress"][-1] != pct:
                seen["progress"].append(pct)
            return row.get_attribute("data-state") == "done"
        wait_for(whole + " to be done", done, 120)
        def done_row():
            row = download_row(driver, whole)
            return (row.find_element(By.CSS_SELECTOR, ".detail").text, percent(row))
        seen["done_detail"], seen["done_percent"] = wait_for(
            whole + "'s row", done_row)

        # Another, cancelled while it runs: the page asks first.
        wait_for("a Get button to click", lambda: click(
            hit_row(driver, cancel).find_element(By.CSS_SELECTOR, "button.get")))

        def cancel_percent():
            row = download_row(driver, cancel)
            return row is not None and percent(row)
        seen["cancel_percent_before"] = wait_for(cancel + " to have started",
                                                 cancel_percent)
        # The list is drawn again every second: find the button and click
        # it in one go, again if it was just replaced.
        wait_for("a Cancel button to click", lambda: click(
            download_row(driver, cancel).find_element(By.CSS_SELECTOR, "button.cancel")), 10)

        def confirm():
            try:
                alert = driver.switch_to.alert
            except NoAlertPresentException:
                return None
            text = alert.text
            alert.accept()
            return text
        seen["confirm_text"] = wait_for("the confirmation", confirm, 10)
        wait_for(cancel + " to be gone", lambda: download_row(driver, cancel) is None)
        seen["no_downloads_left_but_done"] = wait_for("the downloads' states", lambda: ([
            r.get_attribute("data-state")
            for r in driver.find_elements(By.CSS_SELECTOR, "#downloads tr.download")],))[0]
        seen["error_line"] = driver.find_element(By.ID, "error").text
        seen["console_errors"] = severe_console_errors(driver)

    return run_check("web_page_check", "1280,900", steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

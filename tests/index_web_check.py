#!/usr/bin/python3
"""Looks at the index server's web page in headless Chromium, as a user would.

  index_web_check.py URL QUERY SCREENSHOT.png ADMIN_TOKEN PEER_ID
  index_web_check.py --map URL SCREENSHOT.png

Waits for the counts and the supernode map, searches QUERY and reads the
hits and their links, searches something that is not a query and reads the
error, opens the admin part with ADMIN_TOKEN, bans PEER_ID there and reads
the audit log the page then shows, saves a screenshot, and prints
one JSON line of what it saw (and the console errors). Exits 0; exits 1
with a message when a step does not happen in time.

With --map it only reads the supernode map: waits for a promoted
supernode and an election event, and prints the roles and events shown.
"""

import os
import sys

from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from headless_chromium import run_check, severe_console_errors, wait_for  # noqa: E402


def map_steps(url, screenshot):
    def steps(driver, seen):
        driver.get(url)
        wait_for("a promoted supernode", lambda: any(
            r.find_element(By.CSS_SELECTOR, "td.role-cell").text == "promoted"
            for r in driver.find_elements(By.CSS_SELECTOR, "#supernodes tr.supernode")))
        wait_for("an election event", lambda: driver.find_elements(
            By.CSS_SELECTOR, "#elections tbody tr.event"))
        # The page redraws its tables as it refreshes: a row read while it
        # is replaced goes stale, and the whole table is read again.
        seen["supernodes"] = wait_for("the supernode rows", lambda: [
            {"address": r.find_element(By.CSS_SELECTOR, "td.address").text,
             "role": r.find_element(By.CSS_SELECTOR, "td.role-cell").text,
             "since": r.find_element(By.CSS_SELECTOR, "td.since").text,
             "id": r.find_element(By.CSS_SELECTOR, "td.id").get_attribute("title")}
            for r in driver.find_elements(By.CSS_SELECTOR, "#supernodes tr.supernode")])
        seen["events"] = wait_for("the election rows", lambda: [
            {"event": r.find_element(By.CSS_SELECTOR, "td.event").text,
             "at": r.find_element(By.CSS_SELECTOR, "td.at").text,
             "id": r.find_element(By.CSS_SELECTOR, "td.id").get_attribute("title")}
            for r in driver.find_elements(By.CSS_SELECTOR, "#elections tbody tr.event")])
        seen["map_note"] = driver.find_element(By.ID, "map-note").text
        seen["elections_note"] = driver.find_element(By.ID, "elections-note").text
        driver.save_screenshot(screenshot)
        seen["console_errors"] = severe_console_errors(driver)
    return steps


def main(argv):
    if len(argv) == 4 and argv[1] == "--map":
        return run_check("index_web_check", "1280,1400", map_steps(argv[2], argv[3]))
    if len(argv) != 6 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) == 2 else 2
    url, query, screenshot, token, peer_id = argv[1:]

    def steps(driver, seen):
        driver.get(url)
        wait_for("the counts", lambda: driver.find_element(
            By.ID, "count-files").get_attribute("data-value") not in (None, ""))
        seen["counts"] = {
            name: driver.find_element(By.ID, "count-" + name).text
            for name in ("peers", "supernodes", "files", "sources", "searches")}
        seen["state"] = driver.find_element(By.ID, "state").text

        # Read again whole if the page redrew the table meanwhile.
        seen["supernodes"] = wait_for("the supernode map", lambda: [
            {"address": r.find_element(By.CSS_SELECTOR, "td.address").text,
             "leaves": r.find_element(By.CSS_SELECTOR, "td.leaves").text}
            for r in driver.find_elements(
                By.CSS_SELECTOR, "#supernodes tr.supernode")])
        seen["map_note"] = driver.find_element(By.ID, "map-note").text

        # The plots: each svg holds a drawn line once the history came.
        wait_for("the plots", lambda: len(driver.find_elements(
            By.CSS_SELECTOR, "#over-time svg polyline")) == 4)
        seen["plots_drawn"] = len(driver.find_elements(
            By.CSS_SELECTOR, "#over-time svg polyline"))

        driver.find_element(By.ID, "q").send_keys(query)
        driver.find_element(By.ID, "search-button").click()
        hits = wait_for("the hits", lambda: driver.find_elements(
            By.CSS_SELECTOR, "#hits tr.hit"))
        seen["hits"] = [r.find_element(By.CSS_SELECTOR, "td.name").text
                        for r in hits]
        seen["links"] = {
            r.find_element(By.CSS_SELECTOR, "td.name").text:
                r.find_element(By.CSS_SELECTOR, "td.link a").get_attribute("href")
            for r in hits}
        seen["search_note"] = driver.find_element(By.ID, "search-note").text

        # Bad input: the page shows the server's reason.
        box = driver.find_element(By.ID, "q")
        box.clear()
        box.send_keys("++")
        driver.find_element(By.ID, "search-button").click()
        seen["bad_search_note"] = wait_for(
            "the error", lambda: "error" in driver.find_element(
                By.ID, "search-note").get_attribute("class").split()
            and driver.find_element(By.ID, "search-note").text)
        box.clear()
        box.send_keys(query)
        driver.find_element(By.ID, "search-button").click()
        wait_for("the hits again", lambda: driver.find_element(
            By.ID, "search-note").text.endswith("files"))

        # Admin: hidden until a token is entered.
        seen["admin_shown_before_token"] = driver.find_element(
            By.ID, "admin").is_displayed()
        driver.find_element(By.ID, "admin-open").click()
        driver.find_element(By.ID, "admin-token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#admin-login button").click()
        seen["admin_shown_after_token"] = wait_for(
            "the admin part", lambda: driver.find_element(By.ID, "admin").is_displayed())
        wait_for("signing in", lambda: driver.find_element(
            By.ID, "admin-note").text != "")

        # An admin action on the page, then the audit log it shows.
        driver.find_element(By.ID, "ban-peer").send_keys(peer_id)
        driver.find_element(By.ID, "ban-reason").send_keys("spam from the page")
        driver.find_element(By.ID, "ban-button").click()
        wait_for("the ban in the audit log", lambda: any(
            r.find_element(By.CSS_SELECTOR, "td.action").text == "ban"
            for r in driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")))
        seen["audit"] = wait_for("the audit rows", lambda: [
            {name: r.find_element(By.CSS_SELECTOR, "td." + name).text
             for name in ("action", "target", "role", "reason", "result")}
            for r in driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")])
        seen["bans"] = wait_for("the ban rows", lambda: [
            r.find_element(By.CSS_SELECTOR, "td.peer").text
            for r in driver.find_elements(By.CSS_SELECTOR, "#bans tbody tr")])
        seen["admin_note"] = driver.find_element(By.ID, "admin-note").text
        seen["token_left_in_page"] = (
            token in driver.page_source or token in driver.current_url)

        driver.save_screenshot(screenshot)
        # The bad search's 400 is logged by the browser; it is expected.
        seen["console_errors"] = severe_console_errors(driver, ignore="/api/search")

    return run_check("index_web_check", "1280,1400", steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

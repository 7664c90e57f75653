"""Every page of the running app in a real browser: it renders, has a title, shows no traceback.

The browser signs in first (as the demo's admin: every page is listed). Pages are found in the
sidebar navigation, so a new page is covered without touching this file. Screenshots land in
tests/e2e/screenshots/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import VIEWPORT, Server

APP = '[data-testid="stApp"]'
USER = "admin"  # the demo's admin: every page is listed
PASSWORD = "loopline-demo"
MAIN = '[data-testid="stMainBlockContainer"]'


@dataclass(frozen=True)
class NavLink:
    title: str
    url: str

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "page"


DRAWN_MS = 30_000  # the browser drawing a finished run (5 s, Playwright's default, is not enough
# at load 12 on two cores: the Home page's skeletons took 5-15 s there)


def wait_for_app(page: Page) -> None:
    """Until the script run that the page load started has finished and its output is drawn.

    After a fresh load the app's script state is ``initial``, then ``running``, then
    ``notRunning``, so waiting for ``notRunning`` cannot see a state left over from before.
    """
    page.locator(f'{APP}[data-test-script-state="notRunning"]').wait_for(state="attached")
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=DRAWN_MS)
    expect(page.locator(f'{MAIN} [data-testid="stElementContainer"]').first).to_be_attached()
    # a Plotly chart is a skeleton until its script bundle has loaded: seconds on a busy machine
    expect(page.locator(f'{MAIN} [data-testid="stSkeleton"]')).to_have_count(0, timeout=DRAWN_MS)
    for chart in page.locator(f'{MAIN} [data-testid="stPlotlyChart"]').all():
        if chart.is_visible():  # charts in hidden tabs are drawn when the tab opens
            expect(chart.locator(".main-svg").first).to_be_attached(timeout=DRAWN_MS)


def open_page(page: Page, url: str) -> None:
    """Load ``url``; a fresh browser session signs in first (Streamlit keeps no cookie)."""
    page.goto(url, wait_until="domcontentloaded")
    wait_for_app(page)
    sign_in_if_asked(page)


def sign_in_if_asked(page: Page, user: str = USER, password: str = PASSWORD) -> None:
    """Fill the app's login form when it is shown (a workspace without accounts shows none)."""
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("textbox", name="Password"))
    if not form.count():
        return
    form.get_by_role("textbox", name="User name").fill(user)
    form.get_by_role("textbox", name="Password").fill(password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {user}")
    wait_for_app(page)


def screenshot(page: Page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main area, so grow the viewport to fit it."""
    height = page.evaluate(
        """() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], body')]
                .map((e) => e.scrollHeight))"""
    )
    size = page.viewport_size or VIEWPORT
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    try:
        wait_for_app(page)  # charts redraw for the new size
        page.screenshot(path=path, full_page=True)
    finally:
        page.set_viewport_size(size)


def nav_links(page: Page, server: Server) -> list[NavLink]:
    open_page(page, server.url)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav, "the sidebar navigation is missing").to_be_visible()
    more = page.get_by_test_id("stSidebarNavViewButton")
    if more.count() and "more" in more.inner_text().lower():  # long lists are collapsed
        more.click()
    links = []
    for anchor in nav.locator("a").all():
        href = anchor.get_attribute("href") or ""
        title = anchor.inner_text().strip()
        links.append(NavLink(title=title, url=href if "://" in href else server.url + href))
    assert links, "no pages in the sidebar navigation"
    return links


def page_problems(page: Page, errors: list[str]) -> list[str]:
    problems = [f"browser error: {e}" for e in errors]
    exceptions = page.get_by_test_id("stException")
    if exceptions.count():
        problems.append(f"exception shown: {exceptions.first.inner_text()[:800]}")
    for alert in page.get_by_test_id("stAlert").all():
        if "Traceback" in alert.inner_text():
            problems.append(f"traceback in an alert: {alert.inner_text()[:800]}")
    heading = page.locator(f"{MAIN} h1")
    title = heading.first.inner_text().strip() if heading.count() else ""
    if not title:
        problems.append("no page title (h1)")
    return problems


def test_every_page_renders(page: Page, app_server: Server, screenshots: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    links = nav_links(page, app_server)
    assert len({link.slug for link in links}) == len(links), f"duplicate page titles: {links}"
    failures: dict[str, list[str]] = {}
    for link in links:
        errors.clear()
        open_page(page, link.url)
        screenshot(page, screenshots / f"{link.slug}.png")
        problems = page_problems(page, errors)
        heading = page.locator(f"{MAIN} h1").first.inner_text() if not problems else ""
        if link.slug != "home" and heading and link.title.split()[0] not in heading:
            problems.append(f"the page shows {heading!r}, not {link.title!r} (lost after sign-in?)")
        if problems:
            failures[f"{link.title} ({link.url})"] = problems
    assert not failures, (
        f"pages with problems: {failures}\n--- server output ---\n" + (app_server.output()[-6000:])
    )


def test_artifact_lineage_chart(page: Page, app_server: Server, screenshots: Path) -> None:
    links = [link for link in nav_links(page, app_server) if "artifacts" in link.slug]
    assert links, "no Artifacts page in the sidebar navigation"
    open_page(page, links[0].url)
    page.get_by_role("tab", name="Lineage").click()
    panel = page.get_by_role("tabpanel").filter(has=page.locator(".js-plotly-plot"))
    chart = panel.locator(".js-plotly-plot").first
    expect(chart).to_be_visible()
    expect(chart.locator(".scatterlayer .point").first).to_be_attached()
    screenshot(page, screenshots / "artifacts-lineage.png")
    assert not page_problems(page, []), app_server.output()[-6000:]


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    box.locator("input").click()
    page.get_by_role("option", name=option).first.click()
    expect(box.get_by_role("combobox")).to_have_value(re.compile(re.escape(option)))  # shown …
    wait_for_app(page)  # … and the rerun it started has finished


def test_label_one_item_by_clicking(page: Page, app_server: Server, screenshots: Path) -> None:
    from core.labeling.queue import current_annotations
    from core.labeling.tasks import list_tasks
    from core.store import Workspace

    links = [link for link in nav_links(page, app_server) if link.slug == "labeling"]
    assert links, "no Labeling page in the sidebar navigation"
    open_page(page, links[0].url)
    choose(page, "Project", "Out-of-office reply detection")
    tasks = page.get_by_test_id("stSelectbox").filter(has_text="Task").get_by_role("combobox")
    expect(tasks).to_have_value(re.compile("left for you"))  # the project's tasks are listed
    choose(page, "Task", "next batch")
    item = page.locator(f"{MAIN} p").filter(has_text="Item r-").first
    expect(item).to_be_visible()
    before = item.inner_text()
    first = before.split()[1]
    screenshot(page, screenshots / "labeling-item.png")
    page.wait_for_function("document.activeElement === document.body")  # the select let go
    page.keyboard.press("2")  # right after choosing the task: the key labels, not the select
    wait_for_app(page)
    expect(page.locator(f"{MAIN} p").filter(has_text="Item r-").first).not_to_have_text(before)
    after = page.locator(f"{MAIN} p").filter(has_text="Item r-").first.inner_text()
    second = after.split()[1]
    page.get_by_role("button", name=re.compile(r"^out of office")).click()
    wait_for_app(page)
    expect(page.locator(f"{MAIN} p").filter(has_text="Item r-").first).not_to_have_text(after)
    ws = Workspace.open(app_server.workspace)
    task = next(t for t in list_tasks(ws, "ooo-replies") if t.name.endswith("next batch"))
    mine = {
        a.item_id: (a.label, a.source)
        for a in current_annotations(ws, [task.task_id])
        if a.annotator == USER
    }
    assert mine == {first: ("not_out_of_office", "app"), second: ("out_of_office", "app")}


def test_a_page_the_role_lacks_is_named_on_home(
    page: Page, app_server: Server, screenshots: Path
) -> None:
    page.goto(f"{app_server.url}/builds", wait_until="domcontentloaded")
    wait_for_app(page)
    sign_in_if_asked(page, "alice")  # an annotator: no Builds & releases page
    note = page.get_by_test_id("stAlert").filter(has_text="Your role does not include")
    expect(note).to_contain_text("Builds")
    screenshot(page, screenshots / "home-refused-page.png")

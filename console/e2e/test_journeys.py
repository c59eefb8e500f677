"""The console's journeys, in a real browser, each on a fresh `avvio dev` (see conftest.py).

Every assertion is about what the page shows. Run them with
`.venv/bin/python -m pytest console/e2e -q` once `target/debug/avvio` is built (`cargo build -p avvio`,
or the `cargo test` scripts/test runs first; `AVVIO_BIN` names another binary).
"""

from __future__ import annotations

import copy
import re
import time

import pytest
from conftest import CONTACT, Journey, examples
from playwright.sync_api import Locator, Page, expect

NAME = "1.1 primo messaggio"
PHRASE = "Vorrei informazioni"
ASK = "Ciao {{name|}}, come possiamo aiutarti?"
PRICES = "1.1.1 I nostri listini partono da 19 €."
HOURS = "1.1.2 Siamo aperti dal lunedì al venerdì, 9:00–18:00."
HOURS_V2 = "1.1.2 Siamo aperti tutti i giorni, 9:00–20:00."

# The flow journey 2 builds by hand, as a document: the seed's first message. The examples
# hold their own "1.1 primo messaggio" (info-1.1, on the same phrase), so the journeys run
# on the examples without it.
FLOW = {
    "id": "primo-messaggio",
    "name": NAME,
    "trigger": {"type": "customer_message", "phrase": PHRASE},
    "steps": [
        {"after": "0s", "action": {"type": "send_buttons", "text": ASK, "buttons": [
            {"id": "1.1.1", "title": "Prezzi"}, {"id": "1.1.2", "title": "Orari"}]}},
        {"after": "0s", "action": {"type": "wait_for_reply", "timeout": "1d", "branches": [
            {"reply": ["Prezzi", "1.1.1"], "steps": [{"after": "0s", "action": {"type": "send_text", "text": PRICES}}]},
            {"reply": ["Orari", "1.1.2"], "steps": [{"after": "0s", "action": {"type": "send_text", "text": HOURS}}]},
        ], "on_timeout": [{"after": "0s", "action": {"type": "add_tag", "tag": "lead-silenzioso"}}]}},
    ],
}


def others() -> list[dict]:
    return examples(without=("info-1.1",))


def with_flow() -> list[dict]:
    return [copy.deepcopy(FLOW), *others()]


# --- the editor ---------------------------------------------------------------------------


def edit(page: Page, action) -> None:
    """Does `action` (a button pressed, a type chosen) and waits for htmx to swap the editor's
    form for the one the server drew again."""
    page.locator("#editor").evaluate("form => { form.dataset.stale = '1'; }")
    action()
    page.wait_for_function("() => { const f = document.getElementById('editor'); return f && !f.dataset.stale; }")


def press(page: Page, edit_value: str) -> None:
    edit(page, lambda: page.locator(f'#editor button[name="edit"][value="{edit_value}"]').click())


def choose(page: Page, name: str, value: str) -> None:
    edit(page, lambda: page.locator(f'#editor select[name="{name}"]').select_option(value))


def field(page: Page, name: str) -> Locator:
    return page.locator(f'#editor [name="{name}"]:not([type="hidden"])')


def step(page: Page, path: str) -> Locator:
    """A step card of the flow (`li.flow__step`, its id is its path)."""
    return page.locator(f'li.flow__step[id="{path}"]')


def branch(page: Page, path: str) -> Locator:
    return page.locator(f'section.flow__branch[id="{path}"]')


def expect_error_at(page: Page, name: str, text: str | re.Pattern) -> None:
    """The input `name` is marked invalid and describes itself with an error saying `text`."""
    control = field(page, name)
    expect(control).to_have_attribute("aria-invalid", "true")
    ids = (control.get_attribute("aria-describedby") or "").split()
    errors = [i for i in ids if i.endswith("-error")]
    assert errors, f"{name} is not described by an error: {ids}"
    error = page.locator(f'[id="{errors[0]}"]')
    expect(error).to_have_class(re.compile(r"\bfield-error\b"))
    expect(error).to_have_text(text)
    # Next to it: in the same field as the input.
    assert control.locator("xpath=ancestor::div[contains(@class,'field')][1]").locator(f'[id="{errors[0]}"]').count() == 1


def reload_until(page: Page, locator: Locator, text: str, within: float = 10.0) -> None:
    """Reloads the page until `locator` shows `text`: the engine goes on after the request that
    started it (a run waits for the reply once its wait step ran; it ends after its last send)."""
    deadline = time.monotonic() + within
    while text not in " ".join(locator.all_inner_texts()):
        if time.monotonic() > deadline:
            expect(locator.first).to_contain_text(text, timeout=1)
        time.sleep(0.1)
        page.reload()


def open_runs_of(j: Journey, name: str) -> None:
    page = j.page
    page.get_by_role("link", name="Runs", exact=True).click()
    page.get_by_label("Automation").select_option(label=name)
    page.get_by_role("button", name="Filter").click()


# --- 1. sign in ---------------------------------------------------------------------------


@pytest.mark.journey("1-sign-in")
def test_sign_in_refuses_a_wrong_key_then_lists_the_examples(start_avvio, journey):
    j = journey(start_avvio())
    page = j.page
    page.goto(j.url())
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    expect(page.get_by_role("heading", name="Sign in to Avvio")).to_be_visible()

    page.get_by_label("API key").fill("not-the-key")
    with j.refused(401):
        page.get_by_role("button", name="Sign in").click()
    key = page.get_by_label("API key")
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#key-error")).to_have_text("This API key is not valid. Check it and try again.")
    expect(key).to_have_attribute("aria-describedby", re.compile(r"\bkey-error\b"))
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)  # not signed in
    j.screenshot("-refused")

    key.fill("dev-api-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(j.url("automations"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Automations")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    rows = page.locator("table.table tbody tr")
    documents = examples()
    expect(rows).to_have_count(len(documents))
    names = page.locator("table.table tbody th[scope=row]")
    assert sorted(names.all_inner_texts()) == sorted(d["name"] for d in documents)
    seed = page.locator("table.table tbody tr", has=page.get_by_role("link", name=NAME, exact=True))
    expect(seed.locator("td").first).to_contain_text(PHRASE, ignore_case=True)
    expect(seed.get_by_role("switch")).to_have_attribute("aria-checked", "true")
    j.screenshot()

    page.get_by_label("Name or start").fill("primo")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(j.url("automations?q=primo"))
    expect(rows).to_have_count(1)
    expect(names).to_have_text([NAME])
    j.screenshot("-search")


# --- 2. build the seed's flow -------------------------------------------------------------


@pytest.mark.journey("2-build")
def test_build_the_seeds_flow_from_an_empty_form(start_avvio, journey):
    server = start_avvio(others())
    j = journey(server)
    page = j.page
    j.sign_in()
    expect(page.get_by_role("link", name=NAME, exact=True)).to_have_count(0)
    page.get_by_role("link", name="New automation").first.click()
    expect(page).to_have_url(j.url("automations/new"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New automation")

    field(page, "name").fill(NAME)
    expect(field(page, "trigger.type")).to_have_value("customer_message")
    field(page, "trigger.phrase").fill(PHRASE)

    # Step 1: the buttons.
    press(page, "add-step:steps")
    choose(page, "steps[0].action.type", "send_buttons")
    field(page, "steps[0].action.text").fill(ASK)
    press(page, "add-item:steps[0].action.buttons")
    press(page, "add-item:steps[0].action.buttons")
    for i, (id_, title) in enumerate([("1.1.1", "Prezzi"), ("1.1.2", "Orari")]):
        field(page, f"steps[0].action.buttons[{i}].title").fill(title)
        field(page, f"steps[0].action.buttons[{i}].id").fill(id_)

    # Step 2: wait for the reply, a branch per button and a no-reply path.
    press(page, "add-step:steps")
    choose(page, "steps[1].action.type", "wait_for_reply")
    field(page, "steps[1].action.timeout").fill("un giorno")  # not a duration
    press(page, "add-item:steps[1].action.branches")
    press(page, "add-item:steps[1].action.branches")
    for i, (reply, text) in enumerate([("Prezzi\n1.1.1", PRICES), ("Orari\n1.1.2", HOURS)]):
        field(page, f"steps[1].action.branches[{i}].reply").fill(reply)
        press(page, f"add-step:steps[1].action.branches[{i}].steps")
        expect(field(page, f"steps[1].action.branches[{i}].steps[0].action.type")).to_have_value("send_text")
        field(page, f"steps[1].action.branches[{i}].steps[0].action.text").fill(text)
    # The no-reply path (its step right away: a path with no step has no input to keep it).
    press(page, "add-branches:steps[1].action.on_timeout")
    expect(branch(page, "steps[1].action.on_timeout")).to_contain_text("If there is no reply in time")
    press(page, "add-step:steps[1].action.on_timeout")
    choose(page, "steps[1].action.on_timeout[0].action.type", "add_tag")
    field(page, "steps[1].action.on_timeout[0].action.tag").fill("lead-silenzioso")

    # What was typed survived every redraw.
    expect(field(page, "name")).to_have_value(NAME)
    expect(field(page, "steps[0].action.buttons[1].title")).to_have_value("Orari")
    expect(field(page, "steps[1].action.branches[0].reply")).to_have_value("Prezzi\n1.1.1")
    expect(branch(page, "steps[1].action.on_timeout")).to_contain_text("If there is no reply in time")

    # Saving refuses the timeout, at its input; nothing is stored.
    with j.refused(422):
        press(page, "save")
    expect(page).to_have_url(j.url("automations/new"))
    expect(page.locator("#editor .flash--error")).to_contain_text("The automation was not saved")
    expect_error_at(page, "steps[1].action.timeout", re.compile(r"un giorno.*not a duration"))
    expect(field(page, "steps[1].action.timeout")).to_be_focused()
    expect(field(page, "steps[1].action.timeout")).to_have_value("un giorno")
    expect(field(page, "steps[1].action.branches[1].steps[0].action.text")).to_have_value(HOURS)
    j.screenshot("-invalid")

    field(page, "steps[1].action.timeout").fill("1d")
    page.locator('#editor button[name="edit"][value="save"]').click()
    expect(page).to_have_url(re.compile(r"/console/automations/[^/?]+\?saved=1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.locator("#editor .flash--ok")).to_have_text("Saved.")
    header = page.locator(".page-header__meta")
    expect(header).to_contain_text("On")
    expect(header).to_contain_text("Version 1")
    expect(page.locator('[aria-invalid="true"]')).to_have_count(0)
    expect(step(page, "steps[0]")).to_contain_text("Send buttons", ignore_case=True)
    expect(field(page, "steps[1].action.branches[1].steps[0].action.text")).to_have_value(HOURS)
    expect(field(page, "steps[1].action.on_timeout[0].action.tag")).to_have_value("lead-silenzioso")

    # It is in the list, on.
    page.get_by_role("link", name="Automations", exact=True).first.click()
    row = page.locator("table.table tbody tr", has=page.get_by_role("link", name=NAME, exact=True))
    expect(row).to_have_count(1)
    expect(row.get_by_role("switch")).to_have_attribute("aria-checked", "true")
    expect(row.locator("td").first).to_contain_text(PHRASE, ignore_case=True)

    # Live: a signed webhook with the phrase starts it, and the buttons go out.
    server.text(PHRASE)
    sent = server.graph.wait_for(1)[0]
    assert sent["to"] == CONTACT, sent
    assert sent["type"] == "interactive", sent
    titles = [b["reply"]["title"] for b in sent["interactive"]["action"]["buttons"]]
    assert titles == ["Prezzi", "Orari"], sent
    open_runs_of(j, NAME)
    runs = page.locator("table.table tbody tr")
    reload_until(page, runs, "Waiting for the reply until")
    expect(runs).to_have_count(1)
    expect(runs.first.locator(".badge")).to_have_text("Active")
    expect(runs.first).to_contain_text(CONTACT)
    j.screenshot()


# --- 3. try it -----------------------------------------------------------------------------


@pytest.mark.journey("3-try-it")
def test_try_it_shows_the_timeline_of_a_reply_taking_the_second_branch(start_avvio, journey):
    server = start_avvio(with_flow())
    j = journey(server)
    page = j.page
    j.sign_in()
    page.get_by_role("link", name=NAME, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)

    # What is tried is what is on screen: an unsaved text is the one sent.
    field(page, "steps[1].action.branches[1].steps[0].action.text").fill(HOURS_V2)
    page.get_by_label("Messages from a test contact, one per line").fill(f"{PHRASE}\nOrari")
    press(page, "try")
    result = page.locator("#try-result")
    chat = result.locator("ol.chat > li")
    expect(result.locator(".bubble--in")).to_have_count(2)
    expect(result.locator(".bubble--in").nth(0)).to_contain_text(PHRASE)
    expect(result.locator(".bubble--in").nth(1)).to_contain_text("Orari")
    sent = result.locator(".bubble--out")
    expect(sent).to_have_count(2)
    expect(sent.nth(0)).to_contain_text("come possiamo aiutarti?")
    expect(sent.nth(0).locator(".bubble__buttons > span")).to_have_text(["Prezzi", "Orari"])
    expect(sent.nth(1)).to_contain_text(HOURS_V2)
    expect(result).not_to_contain_text(PRICES)
    # In order: the phrase, the buttons, the wait, the reply, the branch it took, the answer.
    entries = [(item.get_attribute("class") or "", item.inner_text()) for item in chat.all()]

    def index(kind: str, needle: str) -> int:
        found = [i for i, (cls, text) in enumerate(entries) if kind in cls.split() and needle in text]
        assert found, f"no {kind} saying {needle!r} in {entries}"
        return found[0]

    order = [index("bubble--in", PHRASE), index("bubble--out", "come possiamo"),
             index("chat__note", "Waits for a reply"), index("bubble--in", "Orari"),
             index("chat__note", "→"), index("bubble--out", HOURS_V2)]
    assert order == sorted(order), entries
    expect(result.locator(".chat__note", has_text="→")).to_contain_text("“Orari”")
    expect(result.locator(".chat__note--error")).to_have_count(0)
    j.screenshot()
    page.set_viewport_size({"width": 1280, "height": 2000})  # the sticky panel shows the whole chat
    j.screenshot("-panel", of=page.locator(".editor__try"))

    # Nothing was sent, nothing stored.
    assert server.graph.sent == []
    page.reload()
    expect(page.locator(".page-header__meta")).to_contain_text("Version 1")
    expect(field(page, "steps[1].action.branches[1].steps[0].action.text")).to_have_value(HOURS)


# --- 4. a run ------------------------------------------------------------------------------


@pytest.mark.journey("4-run")
def test_a_runs_page_shows_its_steps_and_the_branch_taken(start_avvio, journey):
    server = start_avvio(with_flow())
    j = journey(server)
    page = j.page
    j.sign_in()
    page.get_by_role("link", name=NAME, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(step(page, "steps[0]").locator(".flow__counters")).to_have_count(0)
    expect(branch(page, "steps[1].action.branches[1]").get_by_text("taken")).to_have_count(0)
    j.screenshot("-before")

    # The contact writes the phrase, gets the buttons, and once the run waits presses the second.
    server.text(PHRASE)
    server.graph.wait_for(1)
    open_runs_of(j, NAME)
    rows = page.locator("table.table tbody tr")
    reload_until(page, rows, "Waiting for the reply until")
    server.press("1.1.2", "Orari")
    second = server.graph.wait_for(2)[1]
    assert second["type"] == "text" and second["text"]["body"] == HOURS, second
    reload_until(page, rows.locator(".badge"), "Completed")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/console/runs/[^/]+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(NAME)
    expect(page.locator(".page-header__meta .badge")).to_have_text("Completed")
    items = page.locator("ol.timeline > li.timeline__item")
    expect(items).to_have_count(3)
    expect(items.locator(".run-step__title")).to_have_text(["Send buttons", "Wait for the reply", "Send a text"])
    expect(items.locator(".run-step__head .badge")).to_have_text(["Done", "Done", "Done"])
    expect(items.locator(".run-step__path")).to_have_text(
        ["steps[0]", "steps[1]", "steps[1].action.branches[1].steps[0]"])
    wait = items.nth(1)
    expect(wait.locator(".run-step__fact", has_text="Branch taken").locator("dd")).to_contain_text("Orari")
    expect(items.nth(2).locator(".run-step__place")).to_contain_text("Orari")
    expect(items.nth(2)).to_contain_text(HOURS)
    j.screenshot()

    # The editor's live counters moved.
    page.get_by_role("link", name=NAME, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(step(page, "steps[0]").locator(".flow__counters")).to_contain_text("1 done")
    expect(step(page, "steps[1]").locator(".flow__counters").first).to_contain_text("1 done")
    expect(step(page, "steps[1].action.branches[1].steps[0]").locator(".flow__counters")).to_contain_text("1 done")
    expect(branch(page, "steps[1].action.branches[1]").locator(":scope > .flow__head > .badge")).to_have_text("1 taken")
    expect(branch(page, "steps[1].action.branches[0]").locator(":scope > .flow__head > .badge")).to_have_text("0 taken")
    j.screenshot("-counters")


# --- 5. versions ---------------------------------------------------------------------------


@pytest.mark.journey("5-versions")
def test_edit_look_at_the_diff_and_restore_version_1(start_avvio, journey):
    server = start_avvio(with_flow())
    j = journey(server)
    page = j.page
    j.sign_in()
    page.get_by_role("link", name=NAME, exact=True).click()
    header = page.locator(".page-header__meta")
    expect(header).to_contain_text("Version 1")
    expect(header.get_by_role("link")).to_have_text("History · 1 version")
    editor_url = page.url

    # Edit and save: version 2.
    field(page, "steps[1].action.branches[1].steps[0].action.text").fill(HOURS_V2)
    page.locator('#editor button[name="edit"][value="save"]').click()
    expect(page).to_have_url(re.compile(r"\?saved=1$"))
    expect(page.locator("#editor .flash--ok")).to_have_text("Saved.")
    expect(header).to_contain_text("Version 2")
    expect(field(page, "steps[1].action.branches[1].steps[0].action.text")).to_have_value(HOURS_V2)

    # The history, then version 2 against version 1.
    header.get_by_role("link", name="History · 2 versions").click()
    expect(page).to_have_url(re.compile(r"/console/automations/primo-messaggio/versions$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("History")
    rows = page.locator("table.versions-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("th")).to_contain_text("Version 2")
    expect(rows.nth(0).locator("th .badge")).to_have_text("Current")
    expect(rows.nth(1).locator("th")).to_contain_text("Version 1")
    expect(rows.nth(1)).to_contain_text("First version")
    rows.nth(0).get_by_role("link", name="Version 2").click()
    expect(page).to_have_url(re.compile(r"/versions/2$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Version 2")
    expect(page.locator("#diff-title")).to_have_text("Changes from version 1 to version 2")
    expect(page.locator(".versions-diff__summary")).to_have_text("1 line added, 1 removed")
    expect(page.locator(".diff__line--removed .diff__text")).to_have_count(1)
    expect(page.locator(".diff__line--removed .diff__text")).to_contain_text(HOURS)
    expect(page.locator(".diff__line--added .diff__text")).to_have_count(1)
    expect(page.locator(".diff__line--added .diff__text")).to_contain_text(HOURS_V2)
    expect(page.locator(".versions-restore")).to_contain_text("This is the current version.")
    j.screenshot("-diff")

    # Restore version 1: version 3.
    page.get_by_role("link", name="History", exact=True).click()
    page.get_by_role("link", name="Version 1", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Version 1")
    expect(page.locator("#restore-hint")).to_contain_text("Saves this document as version 3")
    page.get_by_role("button", name="Restore this version").click()
    expect(page).to_have_url(editor_url + "?restored=1")
    expect(page.locator("#editor .flash--ok")).to_have_text("Version 1 restored as version 3.")
    expect(header).to_contain_text("Version 3")
    expect(header.get_by_role("link")).to_have_text("History · 3 versions")
    expect(field(page, "steps[1].action.branches[1].steps[0].action.text")).to_have_value(HOURS)
    j.screenshot("-restored")

    # Version 3 is version 1.
    header.get_by_role("link").click()
    expect(page.locator("table.versions-table tbody tr")).to_have_count(3)
    page.get_by_role("link", name="Version 3", exact=True).click()
    page.get_by_label("Compare with").select_option("1")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/versions/3\?against=1$"))
    expect(page.locator("#diff-title")).to_have_text("Changes from version 1 to version 3")
    expect(page.locator(".versions-diff")).to_contain_text("No differences: the two documents are the same.")
    expect(page.locator(".diff__line--added, .diff__line--removed")).to_have_count(0)
    j.screenshot()

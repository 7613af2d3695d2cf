"""The board in the support person's language (issue 24): the words come from the same
gettext catalogue as the apps', picked by the browser's languages or the board's own
picker, remembered in the browser."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from companion.server.app import SignalingServer
from companion.server.boardwords import board_messages
from companion.server.store import MemberRecord
from tests.board.conftest import A11Y_PROBLEMS, BoardRig
from tests.board.test_board import _go_to_patient_after, _silence_the_therapist
from tests.i18n.scan import is_words
from tests.waiting import until

VISIBLE_TEXT = """(() => {
  const parts = [document.title];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('[hidden]') || el.closest('[translate=no]')) continue;
    for (const n of el.childNodes) if (n.nodeType === 3 && n.textContent.trim()) parts.push(n.textContent);
    for (const a of ['placeholder', 'aria-label', 'title']) if (el.getAttribute(a)) parts.push(el.getAttribute(a));
  }
  return parts.join('\\n');
})()"""


def english_left(text: str, lang: str) -> list[str]:
    """The board's English messages (those with their own words in ``lang``) found in
    ``text``."""
    words = board_messages(lang)["messages"]
    return sorted(m for m, said in words.items() if m != said and is_words(m) and m in text)


async def test_the_server_serves_each_languages_words(server: SignalingServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.http_url}/board/messages/es.json") as reply:
            assert reply.status == 200 and reply.content_type == "application/json"
            words = json.loads(await reply.text())
        assert words["language"] == "es"
        assert words["messages"]["Please go to the patient now"] != "Please go to the patient now"
        assert {"code": "es", "name": "Español"} in words["languages"]
        async with http.get(f"{server.http_url}/board/i18n.js") as script:
            assert script.status == 200 and script.content_type == "text/javascript"
        for missing in ("xx", "es-US", "..%2fapp"):
            async with http.get(f"{server.http_url}/board/messages/{missing}.json") as reply:
                assert reply.status == 404, missing


async def test_a_spanish_browser_gets_a_spanish_board_and_the_picker_changes_it(
    rig: BoardRig, shots: Path
) -> None:
    """Accept-Language es: the join page and the board are Spanish, with no English word
    from the catalogue; the join tells the server the person's language; the picker
    switches to English at once and the choice is remembered in the browser."""
    rig.browser_flags = ("--accept-lang=es-US,es",)
    said: list[tuple[str, str]] = []  # (role, language) as the server is told them

    async def language_said(member: MemberRecord, lang: str) -> None:
        said.append((member.role, lang))

    rig.server.service.options.language_said = language_said
    session = await _go_to_patient_after(rig, 2.0)
    page = await rig.page(session.board_link)
    await page.wait_for("document.documentElement.lang === 'es'")
    join_text = await page.evaluate(VISIBLE_TEXT)
    assert "Unirse a la sesión" in join_text or "sesión" in join_text, join_text
    assert english_left(join_text, "es") == []
    await page.screenshot(shots / "join-es.png")

    await rig.join(page)
    await page.wait_for("document.getElementById('state').textContent !== ''")
    board_text = await page.evaluate(VISIBLE_TEXT)
    assert english_left(board_text, "es") == [], board_text
    assert "Último control" in board_text, board_text
    await page.screenshot(shots / "board-es.png")
    # The sheets and the card too (words the script writes itself).
    await page.tap("show-card")
    card_text = await page.evaluate(VISIBLE_TEXT)
    assert english_left(card_text, "es") == [], card_text
    await page.screenshot(shots / "card-es.png")
    await page.tap("card-panel-close")
    assert await page.evaluate(A11Y_PROBLEMS) == []

    # The call to go to the patient, and its answer, in Spanish.
    spanish = board_messages("es")["messages"]
    await _silence_the_therapist(session.therapist, session.patient)
    await page.wait_for(
        "!document.getElementById('call').hidden && document.getElementById('call-text')"
        f".textContent === {json.dumps(spanish['Please go to the patient now'])}",
        timeout=20,
    )
    call_text = await page.evaluate(VISIBLE_TEXT)
    assert english_left(call_text, "es") == [], call_text
    await page.screenshot(shots / "call-es.png")
    await page.tap("with-patient")
    thanks = spanish["Thank you. The therapist can see you're with the patient."]
    await page.wait_for(f"document.getElementById('message').textContent === {json.dumps(thanks)}")
    # The server heard the person's language with the join.
    members = await rig.server.store.members(session.therapist.session_id or "")
    support = [m for m in members if m.role == "support"]
    assert support and support[-1].language == "es"
    assert ("support", "es") in said

    # The picker: English at once, remembered in this browser.
    await page.evaluate(
        "(() => { const p = document.getElementById('language'); p.value = 'en';"
        " p.dispatchEvent(new Event('change')); })()"
    )
    await page.wait_for("document.documentElement.lang === 'en'")
    await page.wait_for(
        "document.getElementById('checkin').textContent.startsWith('Last check-in')"
    )
    assert "Emergency card" in await page.evaluate(VISIBLE_TEXT)
    assert await page.evaluate("localStorage.getItem('companion.language')") == "en"
    await until(lambda: said[-1:] == [("support", "en")])  # set_language, while joined
    assert await page.evaluate("companionBoard.errors") == []
    # Another tab of the same browser (which still asks for Spanish): the choice holds.
    again = await rig.page(session.board_link.split("#")[0])
    await again.wait_for("document.getElementById('language').value === 'en'")
    assert await again.evaluate("document.documentElement.lang") == "en"
    assert "Join the session" in await again.evaluate(VISIBLE_TEXT)

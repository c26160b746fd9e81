"""The chat page in a real browser (Debian's chromium via Playwright) against the real
server relaying to the scriptable OpenAI upstream on loopback.

Waits synchronise on what the page shows and on the upstream's events,
bounded by generous timeouts; nothing sleeps for an assumed duration.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from servers.openai_upstream import (
    DEFAULT_ANSWER,
    DEFAULT_MODELS,
    OpenAIUpstream,
    SSEReply,
    error_reply,
    text_events,
)

from .pages import Console, ask, last_answer, load, open_page, wait_answered


def test_no_console_errors_on_load(page_console: tuple[Page, Console]) -> None:
    page, console = page_console
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.reload()
    page.wait_for_selector("html[data-ready]", state="attached")
    page.wait_for_load_state("networkidle")
    assert console.problems == []
    assert failed == []
    assert page.title() == "Acytoo chat"
    icon = page.evaluate("() => fetch('/static/favicon.svg').then(r => r.status)")
    assert icon == 200


def test_send_and_receive(page: Page, threaded_openai_upstream: OpenAIUpstream) -> None:
    bodies: list[Any] = []
    page.on(
        "request",
        lambda r: (
            bodies.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/api/completions")
            else None
        ),
    )
    ask(page, "Hello, Acytoo!")
    wait_answered(page)
    assert last_answer(page) == DEFAULT_ANSWER
    # The Acytoo protocol, as the original page spoke it.
    assert set(bodies[0]) >= {"messages", "temperature", "password"}
    assert bodies[0]["messages"] == [{"role": "user", "content": "Hello, Acytoo!"}]
    upstream_body = threaded_openai_upstream.chat_requests[0].json
    assert upstream_body["messages"] == [{"role": "user", "content": "Hello, Acytoo!"}]
    # Listed newest first, titled after the question, with a preview.
    expect(page.locator(".conv-title").first).to_have_text("Hello, Acytoo!")
    expect(page.locator(".conv-preview").first).to_contain_text("Hello from the upstream")


def test_the_answer_streams_in_before_it_ends(
    page: Page, threaded_openai_upstream: OpenAIUpstream
) -> None:
    # Everything but the end of the stream is sent, then the upstream holds.
    threaded_openai_upstream.reply(
        SSEReply(text_events(["The first ", "part arrives"]), ending="hold")
    )
    ask(page, "stream please")
    expect(page.locator("article.assistant .body")).to_have_text("The first part arrives")
    # Still streaming: the upstream has not finished and the page knows it.
    expect(page.locator("#stop")).to_be_visible()
    assert page.locator("article.assistant[aria-busy]").count() == 1
    threaded_openai_upstream.release()
    wait_answered(page)
    assert last_answer(page) == "The first part arrives"
    assert page.locator("article.assistant .note").count() == 0


def test_stop_cancels_the_upstream_request(
    page: Page, threaded_openai_upstream: OpenAIUpstream
) -> None:
    threaded_openai_upstream.reply(SSEReply(text_events(["Partial answer"]), ending="hold"))
    ask(page, "a long one")
    expect(page.locator("article.assistant .body")).to_have_text("Partial answer")
    page.locator("#stop").click()
    threaded_openai_upstream.wait_disconnected_threadsafe(30)
    expect(page.locator("article.assistant .note")).to_have_text("Stopped.")
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#stop")).to_be_hidden()
    assert last_answer(page).startswith("Partial answer")


def test_conversations_survive_a_reload(page: Page, site: str) -> None:
    ask(page, "Remember me")
    wait_answered(page)
    page.locator("#new-chat").click()
    ask(page, "Second chat")
    wait_answered(page)
    load(page, site)
    titles = page.locator(".conv-title")
    expect(titles).to_have_text(["Second chat", "Remember me"])
    titles.nth(1).click()
    expect(page.locator("article.user .body")).to_have_text("Remember me")
    expect(page.locator("article.assistant .body")).to_have_text(DEFAULT_ANSWER)


def test_export_and_import_round_trip(
    browser: Browser, page: Page, site: str, tmp_path: Path
) -> None:
    page.locator("#settings-btn").click()
    page.locator("#set-key").fill("sk-own-key")
    page.locator("#set-system").fill("Be brief.")
    page.locator("#settings-save").click()
    ask(page, "Export me")
    wait_answered(page)
    with page.expect_download() as download_info:
        page.locator("#export-json").click()
    exported = tmp_path / "chat.json"
    download_info.value.save_as(exported)
    data = json.loads(exported.read_text())
    assert [m["content"] for m in data["messages"]] == ["Export me", DEFAULT_ANSWER]
    assert data["settings"]["system"] == "Be brief."
    assert "key" not in data["settings"]  # the own key never leaves the browser
    with page.expect_download() as download_info:
        page.locator("#export-md").click()
    markdown = tmp_path / "chat.md"
    download_info.value.save_as(markdown)
    assert "## You\n\nExport me" in markdown.read_text()
    assert f"## Assistant\n\n{DEFAULT_ANSWER}" in markdown.read_text()
    # A fresh browser profile imports it back.
    with open_page(browser, site) as (other, console):
        other.locator("#import-file").set_input_files(str(exported))
        expect(other.locator(".conv-title")).to_have_text(["Export me"])
        expect(other.locator("article.assistant .body")).to_have_text(DEFAULT_ANSWER)
        expect(other.locator("article.user .body")).to_have_text("Export me")
        assert console.problems == []


def test_an_import_that_is_not_a_conversation_changes_nothing(page: Page, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": "no", "title": "<img src=x onerror=alert(1)>"}')
    page.locator("#import-file").set_input_files(str(bad))
    expect(page.locator("#live")).to_have_text("That file holds no conversation.")
    assert page.locator(".conv").count() == 0


def test_password_flow(browser: Browser, threaded_openai_upstream: OpenAIUpstream) -> None:
    from .pages import relay_to

    with relay_to(threaded_openai_upstream.base_url, password="s3cret") as url:
        with open_page(browser, url) as (page, console):
            ask(page, "Let me in")
            dialog = page.locator("#password-dialog")
            expect(dialog).to_be_visible()
            expect(page.locator("#password-error")).to_be_hidden()
            page.locator("#password").fill("wrong")
            page.locator("#password").press("Enter")
            expect(page.locator("#password-error")).to_be_visible()  # asked again
            page.locator("#password").fill("s3cret")
            page.locator("#password").press("Enter")
            wait_answered(page)
            assert last_answer(page) == DEFAULT_ANSWER
            # For this browser session only: "remember" was not ticked.
            assert page.evaluate("() => sessionStorage.getItem('acytoo.password')") == "s3cret"
            assert page.evaluate("() => localStorage.getItem('acytoo.password')") is None
            # Once known, it is sent without asking (and the model list opens up).
            ask(page, "Again")
            wait_answered(page, 2)
            assert console.page_errors == []
        with open_page(browser, url) as (page, _):
            ask(page, "Remember me")
            page.locator("#password").fill("s3cret")
            page.locator("#remember").check()
            page.locator("#password").press("Enter")
            wait_answered(page)
            assert page.evaluate("() => localStorage.getItem('acytoo.password')") == "s3cret"


def test_an_upstream_401_is_an_error_not_a_password_prompt(
    page: Page, threaded_openai_upstream: OpenAIUpstream
) -> None:
    threaded_openai_upstream.reply(error_reply(401, "Incorrect API key provided."))
    ask(page, "with a bad key")
    expect(page.locator("article.user .note.error")).to_contain_text(
        "upstream rejected the server's credentials"
    )
    expect(page.locator("#password-dialog")).to_be_hidden()


def test_errors_show_next_to_the_question_with_a_retry(
    page: Page, threaded_openai_upstream: OpenAIUpstream
) -> None:
    threaded_openai_upstream.reply(error_reply(429, "Slow down, please.", type="rate_limit"))
    ask(page, "too fast")
    error = page.locator("article.user .note.error")
    expect(error).to_contain_text("Slow down, please.")
    assert page.locator("article.assistant").count() == 0
    error.get_by_role("button", name="Retry").click()
    wait_answered(page)
    assert last_answer(page) == DEFAULT_ANSWER
    expect(page.locator(".note.error")).to_have_count(0)


def test_a_dropped_stream_is_marked_incomplete(
    browser: Browser, threaded_openai_upstream: OpenAIUpstream
) -> None:
    from .pages import relay_to

    threaded_openai_upstream.reply(SSEReply(text_events(["Half an ans"]), ending="hold"))
    server = contextlib.ExitStack()  # closed in the middle of the test, and again at the end
    url = server.enter_context(relay_to(threaded_openai_upstream.base_url, grace_period=0.2))
    try:
        with open_page(browser, url) as (page, _):
            ask(page, "drop it")
            expect(page.locator("article.assistant .body")).to_have_text("Half an ans")
            # The server goes away mid-answer: the body ends without its last chunk.
            server.close()
            note = page.locator("article.assistant .note")
            expect(note).to_contain_text("Incomplete")
            expect(page.locator("#stop")).to_be_hidden()
            assert last_answer(page) == "Half an ans"
            stored = page.evaluate(
                "() => Object.keys(localStorage).map(k => JSON.parse(localStorage[k]))"
            )
            assert stored[0]["messages"][1] == {
                "role": "assistant",
                "content": "Half an ans",
                "time": stored[0]["messages"][1]["time"],
                "incomplete": True,
            }
            # Back again on the same address: kept as incomplete, and Retry asks again.
            port = int(url.rsplit(":", 1)[1])
            with relay_to(threaded_openai_upstream.base_url, port=port):
                load(page, url)
                note = page.locator("article.assistant .note")
                expect(note).to_contain_text("Incomplete")
                note.get_by_role("button", name="Retry").click()
                wait_answered(page)
                assert last_answer(page) == DEFAULT_ANSWER
                assert page.locator("article.assistant").count() == 1
    finally:
        server.close()


def test_regenerate_and_edit_the_last_question(
    page: Page, threaded_openai_upstream: OpenAIUpstream
) -> None:
    ask(page, "first version")
    wait_answered(page)
    threaded_openai_upstream.answer = "A second answer"
    page.get_by_role("button", name="Regenerate").click()
    wait_answered(page)
    expect(page.locator("article.assistant .body")).to_have_text("A second answer")
    requests = threaded_openai_upstream.chat_requests
    assert len(requests) == 2
    assert requests[1].json["messages"] == [{"role": "user", "content": "first version"}]
    page.get_by_role("button", name="Edit and resend").click()
    expect(page.locator("#input")).to_have_value("first version")
    assert page.locator("article.msg").count() == 0
    page.locator("#input").fill("second version")
    page.locator("#input").press("Enter")
    wait_answered(page)
    assert threaded_openai_upstream.chat_requests[2].json["messages"] == [
        {"role": "user", "content": "second version"}
    ]


def test_settings_are_sent_with_each_request(
    page: Page, threaded_openai_upstream: OpenAIUpstream
) -> None:
    page.locator("#settings-btn").click()
    expect(page.locator("#set-model option")).to_have_count(1 + len(DEFAULT_MODELS))
    page.locator("#set-system").fill("You are terse.")
    page.locator("#set-model").select_option(DEFAULT_MODELS[1])
    page.locator("#set-temp").fill("0.3")
    page.locator("#set-key").fill("sk-mine")
    page.locator("#settings-save").click()
    ask(page, "configured")
    wait_answered(page)
    request = threaded_openai_upstream.chat_requests[0]
    assert request.json["model"] == DEFAULT_MODELS[1]
    assert request.json["temperature"] == 0.3
    assert request.json["messages"][0] == {"role": "system", "content": "You are terse."}
    assert request.authorization == "Bearer sk-mine"


def test_saved_prompts_are_picked_with_a_slash(page: Page) -> None:
    page.locator("#prompts-btn").click()
    page.locator("#prompt-name").fill("translator")
    page.locator("#prompt-text").fill("Translate into French:")
    page.locator("#prompt-text").press("Tab")
    page.get_by_role("button", name="Add prompt").click()
    page.locator("#prompt-name").fill("reviewer")
    page.locator("#prompt-text").fill("Review this code:")
    page.get_by_role("button", name="Add prompt").click()
    expect(page.locator("#prompt-list li")).to_have_count(2)
    page.locator("#prompts-close").click()
    page.locator("#input").press_sequentially("/rev")
    expect(page.get_by_role("option")).to_have_text(["reviewer"])
    page.locator("#input").press("Enter")
    expect(page.locator("#input")).to_have_value("Review this code:")
    expect(page.locator("#picker")).to_be_hidden()


def test_copy_a_code_block_and_a_message(
    browser: Browser, threaded_openai_upstream: OpenAIUpstream, site: str
) -> None:
    threaded_openai_upstream.answer = "Run this:\n\n```python\nprint('hi')\n```\n\nDone."
    with open_page(browser, site, permissions=["clipboard-read", "clipboard-write"]) as (page, _):
        ask(page, "code please")
        wait_answered(page)
        block = page.locator("article.assistant .code")
        expect(block.locator(".t-nb")).to_have_text("print")  # highlighted
        block.get_by_role("button", name="Copy code").click()
        expect(block.get_by_role("button", name="Copy code")).to_have_text("Copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == "print('hi')\n"
        page.locator("article.assistant").get_by_role("button", name="Copy message").click()
        assert page.evaluate("() => navigator.clipboard.readText()") == (
            threaded_openai_upstream.answer
        )


def test_search_rename_and_delete(page: Page) -> None:
    for question in ("apples", "bananas"):
        page.locator("#new-chat").click()
        ask(page, question)
        wait_answered(page, 1)
    page.locator("#search").fill("appl")
    expect(page.locator(".conv-title")).to_have_text(["apples"])
    page.locator("#search").fill("upstream")  # matches the answers too
    expect(page.locator(".conv-title")).to_have_count(2)
    page.locator("#search").fill("")
    page.locator(".conv").first.click()
    page.locator("#rename-btn").click()
    page.locator("#rename-input").fill("Yellow fruit")
    page.locator("#rename-input").press("Enter")
    expect(page.locator("#title")).to_have_text("Yellow fruit")
    expect(page.locator(".conv-title").first).to_have_text("Yellow fruit")
    delete = page.get_by_role("button", name="Delete “Yellow fruit”")
    delete.click()  # asks first
    expect(page.locator(".conv-title")).to_have_count(2)
    page.get_by_role("button", name="Confirm deleting “Yellow fruit”").click()
    expect(page.locator(".conv-title")).to_have_text(["apples"])
    assert page.evaluate("() => localStorage.length") == 1


HOSTILE = """# Hostile

<img src=x onerror="window.__pwned = 1">
<script>window.__pwned = 2</script>

[click me](javascript:window.__pwned=3) and [data](data:text/html,<b>x</b>)

![tracker](http://203.0.113.9/pixel.png)

<iframe src="http://203.0.113.9/"></iframe> <a href="javascript:alert(1)">raw link</a>

```html
<script>window.__pwned = 4</script>
```
"""


def test_hostile_answers_stay_inert(page: Page, threaded_openai_upstream: OpenAIUpstream) -> None:
    threaded_openai_upstream.answer = HOSTILE
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    ask(page, "attack")
    wait_answered(page)
    body = page.locator("article.assistant .body")
    expect(body.locator("h1")).to_have_text("Hostile")
    assert "<script>window.__pwned = 2</script>" in body.inner_text()
    assert body.locator("img, script, iframe").count() == 0
    hrefs = body.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["http://203.0.113.9/pixel.png"]  # the image, as a link
    assert page.evaluate("() => window.__pwned") is None
    origin = page.url.rstrip("/")
    assert [url for url in requested if not url.startswith(origin)] == []


def test_a_200_kb_answer_renders_and_the_page_stays_responsive(
    page: Page, threaded_openai_upstream: OpenAIUpstream
) -> None:
    paragraph = "Some **bold** text, `code`, <b>raw</b> and [a link](https://example.com). " * 12
    blocks = [f"## Part {i}\n\n{paragraph}\n\n```js\nlet x = {i};\n```\n" for i in range(220)]
    answer = "\n".join(blocks)
    assert len(answer) > 200_000
    threaded_openai_upstream.answer = answer
    ask(page, "a big one")
    wait_answered(page)
    body = page.locator("article.assistant .body")
    expect(body.locator("h2")).to_have_count(220)
    expect(body.locator(".code")).to_have_count(220)
    assert body.locator("b").count() == 0
    # Typing still works at once.
    page.locator("#input").fill("still here")
    expect(page.locator("#input")).to_have_value("still here")


def test_a_phone_sized_screen(browser: Browser, site: str) -> None:
    with open_page(browser, site, viewport={"width": 375, "height": 740}) as (page, console):
        ask(page, "x" * 300 + " and a `" + "long_identifier_" * 20 + "`")
        wait_answered(page)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        assert page.evaluate("() => document.body.scrollWidth") <= 375
        composer = page.locator("#input").bounding_box()
        assert composer is not None
        assert composer["y"] + composer["height"] <= 740
        assert composer["x"] >= 0
        assert composer["x"] + composer["width"] <= 375
        sidebar = page.locator("#sidebar")
        expect(sidebar).to_be_hidden()
        page.get_by_role("button", name="Conversations").click()
        expect(sidebar).to_be_visible()
        expect(page.locator("#new-chat")).to_be_focused()
        page.keyboard.press("Escape")
        expect(sidebar).to_be_hidden()
        for button in page.locator(".top button").all():
            box = button.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= 375
        assert console.problems == []


def test_dark_mode_follows_the_system(browser: Browser, site: str) -> None:
    backgrounds = []
    for scheme in ("light", "dark"):
        with open_page(browser, site, color_scheme=scheme) as (page, _):
            backgrounds.append(
                page.evaluate("() => getComputedStyle(document.body).backgroundColor")
            )
    assert backgrounds[0] != backgrounds[1]


def test_keyboard_only(page: Page, threaded_openai_upstream: OpenAIUpstream) -> None:
    # The message box has the focus on load.
    expect(page.locator("#input")).to_be_focused()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    page.keyboard.press("Enter")
    wait_answered(page)
    expect(page.locator("article.user .body")).to_have_text("first line\nsecond line")
    # Tab through to Settings: every stop shows a visible focus ring.
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const e = document.activeElement;
                const s = getComputedStyle(e);
                if (e === document.body) return {id: "body"};
                return {id: e.id, text: e.textContent.trim(), outline: s.outlineStyle,
                        width: parseFloat(s.outlineWidth)};
            }"""
        )
        seen.append(focused)
        if focused["id"] == "body":
            continue  # past the last control: the focus leaves the page, then wraps around
        assert focused["outline"] != "none", focused
        assert focused["width"] >= 2, focused
        if focused["id"] == "settings-btn":
            break
    assert seen[-1]["id"] == "settings-btn", seen
    page.keyboard.press("Enter")
    expect(page.locator("#settings-dialog")).to_be_visible()
    expect(page.locator("#set-system")).to_be_focused()
    page.keyboard.type("Answer in one word.")
    page.keyboard.press("Escape")
    expect(page.locator("#settings-dialog")).to_be_hidden()
    # Regenerate is reachable by keyboard too.
    regenerate = page.get_by_role("button", name="Regenerate")
    regenerate.focus()
    page.keyboard.press("Enter")
    wait_answered(page)
    assert len(threaded_openai_upstream.chat_requests) == 2


def test_every_control_has_an_accessible_name(page: Page) -> None:
    ask(page, "names")
    wait_answered(page)
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
            .filter(e => !e.hidden && e.type !== 'hidden' && !e.closest('[hidden]'))
            .filter(e => {
                const label = e.getAttribute('aria-label')
                    || (e.labels && [...e.labels].map(l => l.textContent).join(''))
                    || e.textContent;
                return !label || !label.trim();
            })
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    assert page.locator("[aria-live=polite]").count() == 1
    expect(page.locator("#live")).to_have_text("Answer complete.")


def test_a_rate_limited_server_still_serves_the_whole_page(
    browser: Browser, threaded_openai_upstream: OpenAIUpstream
) -> None:
    from acytoo.server import parse_rate_limit

    from .pages import relay_to

    threaded_openai_upstream.answer = "# Title\n\n" + "A paragraph of **text**.\n\n" * 40
    limited = relay_to(
        threaded_openai_upstream.base_url, rate_limit=parse_rate_limit("1/s,burst=2")
    )
    # The page's 7 files are not counted; /v1/models and the question take the burst,
    # and render calls over the limit get 429 and are retried when the server says.
    with limited as url, open_page(browser, url) as (page, console):
        ask(page, "limited")
        wait_answered(page)
        expect(page.locator("article.assistant .body h1")).to_have_text("Title")
        expect(page.locator("article.assistant .body strong")).to_have_count(40)
        assert console.page_errors == []


def test_a_streamed_answer_ends_as_the_whole_answer_rendered_once(
    page: Page, threaded_openai_upstream: OpenAIUpstream, site: str
) -> None:
    from acytoo.web.markdown import render_markdown

    # CRLF line ends and characters outside the BMP: the page counts lines the way
    # markdown-it does and offsets in UTF-16, the server in code points.
    answer = (
        "# Title 😀\r\n\r\nPara one with **bold** 😀.\r\n\r\n- item 1\r\n- item 2\r\n\r\n"
        "```py\r\nx = '😀'\r\n```\r\n\r\n| a | b |\r\n|---|---|\r\n| 1 | 2 |\r\n\r\nLast para"
    )
    pieces = [answer[i : i + 3] for i in range(0, len(answer), 3)]
    threaded_openai_upstream.reply(SSEReply(text_events(pieces), ending="hold"))
    ask(page, "render me")
    # While the upstream holds, a pause in the stream renders the blocks so far.
    expect(page.locator("article.assistant .body h1")).to_have_text("Title 😀")
    expect(page.locator("article.assistant .body table")).to_have_count(1)
    threaded_openai_upstream.release()
    wait_answered(page)
    same = page.evaluate(
        """(expected) => {
            const body = document.querySelector("article.assistant .body");
            const template = document.createElement("template");
            template.innerHTML = expected;
            const shown = document.createElement("template");
            shown.innerHTML = [...body.querySelectorAll(":scope > .md")]
                .map((md) => md.innerHTML).join("").replace('<span class="plain"></span>', "");
            return shown.innerHTML === template.innerHTML || [shown.innerHTML, template.innerHTML];
        }""",
        render_markdown(answer),
    )
    assert same is True

"""The built documentation site works as a reader sees it: served over HTTP on 127.0.0.1
and opened in headless Chromium, the home page, the API reference (every public name of
the package and of its public submodules) and the quick start render their content with
no console error, and no internal link of any page is broken.

The browser is driven over the DevTools protocol (a websocket, with aiohttp): console
messages, uncaught exceptions and failed loads arrive as events, so none can be missed by
parsing a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import itertools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
import pytest

import zyntro_async
import zyntro_async.bulk
import zyntro_async.errors
import zyntro_async.models
import zyntro_async.retries

from .conftest import unavailable

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

#: The public submodules the API reference documents after the top level.
SUBMODULES = (
    zyntro_async.models,
    zyntro_async.bulk,
    zyntro_async.retries,
    zyntro_async.errors,
)


@pytest.fixture
def served(site: Path) -> Iterator[str]:
    """The site over HTTP on a free port of 127.0.0.1, as `mkdocs serve` or a host would."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class DevTools:
    """A minimal DevTools-protocol client: commands by id, events collected per session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            future = self.pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif "method" in data:
                self.events.append(data)
                self.arrived.set()
        for future in self.pending.values():
            future.cancel()

    async def send(self, method: str, session: str | None = None, **params: Any) -> Any:
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.ws.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, 30)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer.get("result", {})

    async def wait_for(self, method: str, session: str) -> dict[str, Any]:
        while True:
            for event in self.events:
                if event["method"] == method and event.get("sessionId") == session:
                    return event
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 30)


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[DevTools]:
    """Headless Debian Chromium, its DevTools websocket connected."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"  # "<port>\n/devtools/browser/<id>"
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().splitlines()) == 2:
                break
            assert process.poll() is None, f"chromium exited with {process.returncode}"
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws,
        ):
            devtools = DevTools(ws)
            reader = asyncio.ensure_future(devtools.read())
            try:
                yield devtools
            finally:
                await ws.close()
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _problems(events: list[dict[str, Any]], session: str) -> list[str]:
    """Console errors, uncaught exceptions and failed loads of one page."""
    found = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        params = event["params"]
        if event["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            found.append(f"exception: {details.get('exception', {}).get('description', details)}")
        elif event["method"] == "Runtime.consoleAPICalled" and params["type"] in (
            "error",
            "assert",
        ):
            found.append(f"console.{params['type']}: {params['args']}")
        elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            found.append(f"{entry['source']}: {entry['text']} ({entry.get('url', '')})")
    return found


async def _open(devtools: DevTools, url: str) -> tuple[str, list[str]]:
    """Open ``url`` in a new tab, wait for its load and a moment more for late scripts;
    return the tab's session and the problems it reported."""
    target = await devtools.send("Target.createTarget", url="about:blank")
    attached = await devtools.send(
        "Target.attachToTarget", targetId=target["targetId"], flatten=True
    )
    session = attached["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        await devtools.send(f"{domain}.enable", session)
    navigated = await devtools.send("Page.navigate", session, url=url)
    assert "errorText" not in navigated, navigated
    await devtools.wait_for("Page.loadEventFired", session)
    await asyncio.sleep(1.0)  # scripts that run after load (search, copy buttons) report too
    return session, _problems(devtools.events, session)


async def _value(devtools: DevTools, session: str, expression: str) -> Any:
    result = await devtools.send(
        "Runtime.evaluate", session, expression=expression, returnByValue=True
    )
    assert "exceptionDetails" not in result, result
    return result["result"].get("value")


async def test_home_api_reference_and_quick_start_render_without_console_errors(
    served: str, tmp_path: Path
) -> None:
    public = [name for name in zyntro_async.__all__ if not name.startswith("__")]
    async with chromium(tmp_path) as devtools:
        home, problems = await _open(devtools, served)
        assert problems == []
        assert await _value(devtools, home, "document.querySelector('article h1').textContent")
        assert "zyntro_async" in await _value(devtools, home, "document.title")
        # The theme's scripts ran: they add a copy button to each code block.
        copy_buttons = await _value(
            devtools, home, "document.querySelectorAll('pre button').length"
        )
        assert copy_buttons == await _value(
            devtools, home, "document.querySelectorAll('pre').length"
        )
        assert copy_buttons > 0

        api, problems = await _open(devtools, urljoin(served, "reference/api/"))
        assert problems == []
        documented = await _value(
            devtools,
            api,
            "Array.from(document.querySelectorAll('[id^=\"zyntro_async.\"]'), e => e.id)",
        )
        missing = [name for name in public if f"zyntro_async.{name}" not in documented]
        assert missing == [], "public names without an API reference entry"
        for module in SUBMODULES:
            assert module.__name__ in documented, f"{module.__name__} has no section"
            undocumented = [
                name
                for name in module.__all__
                if f"{module.__name__}.{name}" not in documented
                and not (name in public and f"zyntro_async.{name}" in documented)
            ]
            assert undocumented == [], f"{module.__name__}: names without an entry"
        signature = await _value(
            devtools, api, "document.getElementById('zyntro_async.ZyntroClient').textContent"
        )
        assert "ZyntroClient" in signature

        start, problems = await _open(devtools, urljoin(served, "quickstart/"))
        assert problems == []
        code = await _value(
            devtools,
            start,
            "Array.from(document.querySelectorAll('pre code'), e => e.textContent).join('\\n')",
        )
        assert "zyntro-async sandbox" in code
        assert "async with ZyntroClient() as client:" in code
        assert "# first contact_id: " in code


async def test_a_page_that_fails_is_reported(served: str, tmp_path: Path) -> None:
    """The check above can fail: a missing page and a script error are both seen."""
    async with chromium(tmp_path) as devtools:
        _, problems = await _open(devtools, urljoin(served, "no-such-page/"))
        assert any("404" in problem for problem in problems), problems
        page, _ = await _open(devtools, served)
        await _value(devtools, page, "setTimeout(() => { throw new Error('planted') }, 0)")
        await asyncio.sleep(0.5)
        assert any("planted" in p for p in _problems(devtools.events, page))


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif (name == "href" and tag in ("a", "link")) or (name == "src" and tag != "iframe"):
                self.links.append(value)


def test_no_internal_link_is_broken(site: Path) -> None:
    pages: dict[str, _Links] = {}
    for html in site.rglob("*.html"):
        parsed = _Links()
        parsed.feed(html.read_text(encoding="utf-8"))
        pages["/" + html.relative_to(site).as_posix()] = parsed
    assert len(pages) > 20
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(urljoin(page, link))
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue  # an external link: not ours to check offline
            target = unquote(parts.path)
            if target.endswith("/"):
                target += "index.html"
            file = site / target.lstrip("/")
            if not file.is_file():
                broken.append(f"{page}: {link} (no {target})")
            elif (
                parts.fragment
                and target.endswith(".html")
                and unquote(parts.fragment) not in pages[target].ids
            ):
                broken.append(f"{page}: {link} (no #{parts.fragment} in {target})")
    assert broken == []

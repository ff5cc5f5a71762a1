#!/usr/bin/python3
"""The dashboard (docs/dashboard.md) in a real headless Chromium, against desfired + a sandboxed
pcscd + desfire-sim (scripts/pcsc-sandbox), driven with Selenium and chromedriver (Debian's
chromium, chromium-driver and python3-selenium).

  dashboard_browser_test.py --source-dir DIR --build-dir DIR [--screenshot FILE]

Checks, in one browser session each where it matters:
  - without a session the page asks for a token; the page loads with no console error;
  - a viewer signs in: the reader and its card appear; the admin-only ledger panel stays hidden;
  - an admin signs in: the ledger panel shows, with the chain's verify status;
  - removing and inserting the card show in the page (the time each took is printed; the
    project measures speed in bench/, so the test waits up to WAIT seconds);
  - a debit made with desfirectl appears in the ledger panel as committed; the same debit again
    (its idempotency key reused) is answered from the ledger and appears, live from the event
    stream's change outcome, as replayed, the first one still once as committed;
  - the event stream cut off (a proxy drops the connection) while the card is removed and put back:
    after it reconnects the page shows both events exactly once, in order, and the card;
  - desfired restarted under the page: the session is gone with the process, so the page asks
    for the token again; then it shows the readers again (the resume point is gone too: a
    reset, then a fresh snapshot) and no event twice;
  - a bad token is refused with a message; signing out asks for a token again;
  - the page on a phone (390x844, touch, 3x) and on a wall screen (3840x2160): no horizontal
    scroll, every panel on screen once scrolled to, text at a readable size, touch targets of
    24 px; every input labelled, every text at the WCAG AA contrast (4.5:1, computed in the
    page), scrollable regions focusable; the keyboard alone signs in (Tab to the token, Enter).
Writes a screenshot of the signed-in page (--screenshot).

Needs root (the pcsc sandbox). Exit 77 (skipped) when Chromium, chromedriver or Selenium are
missing, with the reason.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

WAIT = 15.0
ADMIN_TOKEN = "dashboard-admin-token-0123456789"
VIEWER_TOKEN = "dashboard-viewer-token-0123456789"
KEYS = """key transit-read   AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf roles=viewer,operator,admin use=read
key transit-debit  AES128 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf roles=operator,admin use=write
"""


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:
    skip(f"python3-selenium is missing ({e}): apt-get install python3-selenium")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CuttableProxy:
    """A TCP proxy between the browser and desfired's HTTP port that can cut every connection
    and refuse new ones for a while: a network failure on demand (the one fake part here; the
    browser's offline emulation leaves an open event stream alone)."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open = set()
        self.refusing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.refusing:
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            self.refusing = True
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.open.clear()

    def restore(self):
        with self.lock:
            self.refusing = False

    def close(self):
        self.cut()
        self.listener.close()


class Stack:
    """pcscd + desfire-sim (scripts/pcsc-sandbox) and desfired, stopped by pid."""

    def __init__(self, source_dir, build_dir):
        self.source_dir, self.build_dir = source_dir, build_dir
        self.work = tempfile.mkdtemp(prefix="desfired-dashboard-")
        os.chmod(self.work, 0o700)
        self.sandbox = os.path.join(self.work, "sandbox")
        self.env = dict(os.environ, BUILD_DIR=build_dir,
                        DESFIRE_SIM=os.path.join(build_dir, "sim", "desfire-sim"))
        self.server = None
        self.grpc_port = free_port()
        self.http_port = free_port()

    def script(self, *args):
        return subprocess.run([os.path.join(self.source_dir, "scripts", "pcsc-sandbox"), *args],
                              env=self.env, check=True, capture_output=True, text=True).stdout

    def start(self):
        out = self.script("start", "--dir", self.sandbox)
        for line in out.splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                self.env[k] = v
        self.script("card", "--dir", self.sandbox, "--reader", "0",
                    os.path.join(self.source_dir, "sim", "images", "transit.json"))
        self.script("wait", "--dir", self.sandbox, "--card", "0")
        with open(os.path.join(self.work, "keys.conf"), "w") as f:
            f.write(KEYS)
        os.chmod(os.path.join(self.work, "keys.conf"), 0o600)
        with open(os.path.join(self.work, "tokens.conf"), "w") as f:
            for name, role, token in (("wall", "viewer", VIEWER_TOKEN),
                                      ("ops", "admin", ADMIN_TOKEN)):
                f.write(f"token {name} {role} sha256:{hashlib.sha256(token.encode()).hexdigest()}\n")
        os.chmod(os.path.join(self.work, "tokens.conf"), 0o600)
        os.makedirs(os.path.join(self.work, "data"), mode=0o700, exist_ok=True)
        self.start_server()

    def start_server(self):
        log = open(os.path.join(self.work, "desfired.log"), "ab")
        self.server = subprocess.Popen(
            [os.path.join(self.build_dir, "server", "desfired"),
             f"--listen=127.0.0.1:{self.grpc_port}", f"--http-listen=127.0.0.1:{self.http_port}",
             "--keys", os.path.join(self.work, "keys.conf"),
             "--tokens", os.path.join(self.work, "tokens.conf"),
             "--data-dir", os.path.join(self.work, "data"),
             "--pcsc-socket", self.env["PCSCLITE_CSOCK_NAME"]],
            env=self.env, stdout=log, stderr=log)
        deadline = time.time() + WAIT
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.http_port), timeout=1):
                    return
            except OSError:
                if self.server.poll() is not None:
                    break
                time.sleep(0.05)
        fail("desfired did not start: " + open(os.path.join(self.work, "desfired.log")).read()[-2000:])

    def stop_server(self):
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None

    def card(self, command):
        self.script("ctl", "--dir", self.sandbox, "--reader", "0", command)

    def ctl(self, *args):
        env = dict(self.env, DESFIRED_SERVER=f"127.0.0.1:{self.grpc_port}", DESFIRED_TOKEN=ADMIN_TOKEN)
        return subprocess.run([os.path.join(self.build_dir, "client", "desfirectl"), *args],
                              env=env, capture_output=True, text=True, timeout=60)

    def close(self):
        self.stop_server()
        try:
            self.script("stop", "--dir", self.sandbox)
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.work, ignore_errors=True)


def browser():
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        skip("chromium or chromium-driver is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


class Page:
    def __init__(self, driver, url):
        self.d, self.url = driver, url

    def wait(self, what, predicate, timeout=WAIT):
        start = time.monotonic()
        try:
            WebDriverWait(self.d, timeout, poll_frequency=0.02).until(lambda d: predicate())
        except Exception:
            fail(f"{what}: not seen within {timeout} s; page: {self.d.find_element(By.TAG_NAME, 'body').text[:1500]!r}")
        return time.monotonic() - start

    def visible(self, element_id):
        return self.d.find_element(By.ID, element_id).is_displayed()

    def js(self, script):
        return self.d.execute_script(script)

    def sign_in(self, token):
        self.wait("the sign-in form", lambda: self.visible("sign-in"))
        box = self.d.find_element(By.ID, "token")
        box.clear()
        box.send_keys(token)
        self.d.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()

    def card_state(self):
        return self.js("const r = document.querySelector('#readers li'); "
                       "return r ? r.dataset.card : null;")

    def feed(self):
        return self.js("return [...document.querySelectorAll('#events li[data-sequence]')]"
                       ".map(li => [li.dataset.sequence, li.textContent]).reverse();")

    def console_errors(self):
        return [e for e in self.d.get_log("browser") if e.get("level") == "SEVERE"]


# The layout and accessibility facts of the page as it is now, computed in the page: what
# check_layout judges. Text elements are those with a text node of their own.
LAYOUT_JS = """
const vw = window.innerWidth, vh = window.innerHeight;
const shown = (el) => { const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
const rgb = (c) => (c.match(/[0-9.]+/g) || []).map(Number);
const lum = ([r, g, b]) => { const f = (v) => { v /= 255;
  return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const background = (el) => { for (; el; el = el.parentElement) {
  const c = rgb(getComputedStyle(el).backgroundColor);
  if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); }
  return [255, 255, 255]; };
const out = {vw, scrollWidth: document.documentElement.scrollWidth, panels: [], texts: [],
             unlabelled: [], smallTargets: [], unfocusableScrollers: []};
for (const p of document.querySelectorAll('section.panel')) {
  if (!shown(p)) continue;
  p.scrollIntoView({block: 'nearest'});
  const r = p.getBoundingClientRect();
  out.panels.push({id: p.id || p.getAttribute('aria-labelledby'), left: r.left, right: r.right,
                   onScreen: r.top < vh && r.bottom > 0});
}
window.scrollTo(0, 0);
for (const el of document.querySelectorAll('body *')) {
  if (!shown(el) || el.closest('.sr-only')) continue;
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (own) { const cs = getComputedStyle(el); const fg = lum(rgb(cs.color)), bg = lum(background(el));
    out.texts.push({tag: el.tagName, id: el.id, text: el.textContent.trim().slice(0, 30),
                    size: parseFloat(cs.fontSize),
                    contrast: (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)}); }
  if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && el.type !== 'hidden' &&
      !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
      !el.getAttribute('aria-labelledby')) out.unlabelled.push(el.id || el.name);
  if (['BUTTON', 'INPUT'].includes(el.tagName)) { const r = el.getBoundingClientRect();
    if (r.width < 24 || r.height < 24) out.smallTargets.push(el.id || el.textContent.trim()); }
  const cs = getComputedStyle(el);
  if ((/(auto|scroll)/.test(cs.overflowX) && el.scrollWidth > el.clientWidth) ||
      (/(auto|scroll)/.test(cs.overflowY) && el.scrollHeight > el.clientHeight)) {
    if (el.tabIndex < 0) out.unfocusableScrollers.push(el.id || el.className); }
}
return out;
"""


def check_layout(driver, name, width, height, mobile, min_text_px):
    """The page at a device size (Chrome's device emulation): fails on a horizontal scroll, a
    panel out of reach, text smaller than min_text_px or under 4.5:1 contrast, an input without a
    label, a button under 24 px, a scrollable region the keyboard cannot reach."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 3 if mobile else 1,
        "mobile": mobile})
    try:
        time.sleep(0.3)  # a layout and the charts' resize
        f = driver.execute_script(LAYOUT_JS)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    if f["scrollWidth"] > f["vw"]:
        fail(f"{name}: the page scrolls sideways ({f['scrollWidth']} px in {f['vw']} px)")
    if not f["panels"]:
        fail(f"{name}: no panel shown")
    for p in f["panels"]:
        if not p["onScreen"] or p["left"] < 0 or p["right"] > f["vw"] + 0.5:
            fail(f"{name}: panel {p['id']} out of reach: {p}")
    small = [t for t in f["texts"] if t["size"] < min_text_px]
    if small:
        fail(f"{name}: text under {min_text_px} px: {small[:5]}")
    dim = [t for t in f["texts"] if t["contrast"] < 4.5]
    if dim:
        fail(f"{name}: text under the 4.5:1 contrast: {dim[:5]}")
    for what in ("unlabelled", "smallTargets", "unfocusableScrollers"):
        if f[what]:
            fail(f"{name}: {what}: {f[what]}")
    sizes = sorted(t["size"] for t in f["texts"])
    print(f"ok: {name} {width}x{height}: {len(f['panels'])} panels in reach, no sideways scroll, "
          f"text {sizes[0]:.0f}-{sizes[-1]:.0f} px, contrast >= "
          f"{min(t['contrast'] for t in f['texts']):.1f}:1, inputs labelled")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    if os.geteuid() != 0:
        skip("needs root (the pcsc sandbox uses mount and network namespaces)")

    stack = Stack(args.source_dir, args.build_dir)
    driver = None
    try:
        stack.start()
        driver = browser()
        proxy = CuttableProxy(stack.http_port)
        url = f"http://127.0.0.1:{proxy.port}/"
        page = Page(driver, url)

        # Without a session: the page asks for a token, and loads without a console error.
        driver.get(url)
        page.wait("the sign-in form without a session", lambda: page.visible("sign-in"))
        if page.visible("board"):
            fail("the board shows without a session")
        errors = page.console_errors()
        if errors:
            fail(f"console errors on load: {errors}")
        print("ok: without a session the page asks for a token, no console error")

        # A bad token: refused with a message, still signed out.
        page.sign_in("not-a-token")
        page.wait("the refusal of a bad token",
                  lambda: "UNAUTHENTICATED" in driver.find_element(By.ID, "sign-in-error").text)
        print("ok: a bad token is refused:", driver.find_element(By.ID, "sign-in-error").text)
        driver.get_log("browser")  # the 401 of that sign-in is expected; start clean

        # The sign-in page on a phone; then a viewer signs in with the keyboard alone: Tab
        # from the top of the page reaches the token box, Enter submits.
        check_layout(driver, "sign-in on a phone", 390, 844, True, 14)
        driver.find_element(By.ID, "token").clear()
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
        for _ in range(10):
            driver.switch_to.active_element.send_keys(Keys.TAB)
            if driver.switch_to.active_element.get_attribute("id") == "token":
                break
        else:
            fail("Tab never reaches the token box")
        driver.switch_to.active_element.send_keys(VIEWER_TOKEN + Keys.ENTER)
        print("ok: the keyboard alone reaches the token box and signs in")

        # A viewer: readers and the card, no ledger panel.
        page.wait("the board after a viewer's sign-in", lambda: page.visible("board"))
        page.wait("the reader with its card", lambda: page.card_state() == "present")
        page.wait("a live event stream", lambda: page.js("return document.body.dataset.connection") == "live")
        if page.visible("ledger-panel"):
            fail("a viewer sees the admin-only ledger panel")
        r = driver.execute_script("return fetch('/v1/ledger/recent').then(r => r.status)")
        if r != 403:
            fail(f"GET /v1/ledger/recent as a viewer answered {r}, not 403")
        print("ok: a viewer sees the reader and its card, not the ledger panel (the API says 403)")

        # Signing out asks for a token again.
        driver.find_element(By.ID, "sign-out").click()
        page.wait("the sign-in form after signing out", lambda: page.visible("sign-in"))
        driver.refresh()
        page.wait("the sign-in form after a reload", lambda: page.visible("sign-in"))
        print("ok: signing out ends the session (a reload asks for a token)")

        # An admin: the ledger panel with the verify status.
        page.sign_in(ADMIN_TOKEN)
        page.wait("the board after an admin's sign-in", lambda: page.visible("board"))
        page.wait("the ledger panel", lambda: page.visible("ledger-panel"))
        page.wait("the ledger's verify status",
                  lambda: "chain verified" in driver.find_element(By.ID, "ledger-verify").text)
        page.wait("a live event stream", lambda: page.js("return document.body.dataset.connection") == "live")
        page.wait("the reader with its card", lambda: page.card_state() == "present")
        print("ok: an admin sees the ledger panel:", driver.find_element(By.ID, "ledger-verify").text)

        # Remove and insert the card.
        t0 = time.monotonic()
        stack.card("remove")
        page.wait("the card removed", lambda: page.card_state() == "absent")
        removed = time.monotonic() - t0
        t0 = time.monotonic()
        stack.card("insert")
        page.wait("the card inserted", lambda: page.card_state() == "present")
        inserted = time.monotonic() - t0
        print(f"ok: card removal shown after {removed * 1000:.0f} ms, insertion after "
              f"{inserted * 1000:.0f} ms (from the simulator's command to the page)")

        # A debit made with desfirectl shows in the ledger panel.
        readers = json.loads(stack.ctl("readers", "--json").stdout or "{}").get("readers", [])
        reader = next((r["name"] for r in readers if r.get("cardPresent")), None)
        if reader is None:
            fail(f"desfirectl readers found no card: {readers}")
        debit = ("debit", "--reader", reader, "--aid", "F51001", "--file", "1",
                 "--key", "transit-debit", "--key-no", "2", "--amount", "150",
                 "--request-id", "dashboard-debit-1")
        out = stack.ctl(*debit)
        if out.returncode != 0:
            fail(f"desfirectl debit failed: {out.stdout} {out.stderr}")
        page.wait("the debit in the ledger panel", lambda: page.js(
            "const r = document.querySelector('#ledger tr[data-request-id=\"dashboard-debit-1\"]');"
            "return r ? r.dataset.outcome : null;") == "committed")
        print("ok: the debit made with desfirectl shows in the ledger panel as committed")

        # The same debit again, with the same idempotency key: answered from the ledger (no new
        # row), shown live as replayed above the first one, which stays once, committed.
        out = stack.ctl(*debit)
        if out.returncode != 0 or "replayed" not in out.stdout + out.stderr:
            fail(f"the retried debit was not replayed: {out.stdout} {out.stderr}")
        outcomes = ("return [...document.querySelectorAll("
                    "'#ledger tr[data-request-id=\"dashboard-debit-1\"]')].map(r => r.dataset.outcome);")
        page.wait("the retried debit shown as replayed",
                  lambda: page.js(outcomes) == ["replayed", "committed"])
        # The next polls of /v1/ledger/recent (every 2 s) add no line twice.
        polled = page.js("return performance.now();")
        page.wait("a poll of the ledger", lambda: page.js("return performance.now();") > polled + 2500)
        if page.js(outcomes) != ["replayed", "committed"]:
            fail(f"after a poll the ledger panel shows {page.js(outcomes)} for the debit")
        print("ok: the retried debit shows live as replayed, the first once as committed")

        # The stream cut off while the card leaves and comes back: both events once, in order.
        before = page.feed()
        proxy.cut()
        page.wait("the page noticing the lost stream",
                  lambda: page.js("return document.body.dataset.connection") != "live")
        stack.card("remove")
        time.sleep(0.5)
        stack.card("insert")
        time.sleep(0.5)
        proxy.restore()
        page.wait("the stream back", lambda: page.js("return document.body.dataset.connection") == "live")
        page.wait("the events missed while offline", lambda: len(page.feed()) >= len(before) + 2)
        after = page.feed()
        new = after[len(before):]
        seqs = [int(s) for s, _ in after]
        if len(seqs) != len(set(seqs)) or seqs != sorted(seqs):
            fail(f"events shown twice or out of order across the reconnect: {after}")
        kinds = [text for _, text in new]
        if len(new) != 2 or "card removed" not in kinds[0] or "card inserted" not in kinds[1]:
            fail(f"after the reconnect the page shows {kinds}, not the removal then the insertion")
        if page.card_state() != "present":
            fail("after the reconnect the card is not shown on its reader")
        if int(new[0][0]) <= int(before[-1][0]) if before else False:
            fail("the replayed events are not newer than the last one before the cut")
        print(f"ok: after a cut the stream resumed: {len(new)} missed events, once each, in order")

        # desfired restarted under the page: it reconnects and shows the readers again.
        shown = page.feed()
        stack.stop_server()
        page.wait("the page noticing the restart",
                  lambda: page.js("return document.body.dataset.connection") != "live")
        stack.start_server()
        # Sessions live in desfired's memory: a restart ends them, and the page says so.
        page.wait("the sign-in form after the restart", lambda: page.visible("sign-in"), timeout=30)
        page.sign_in(ADMIN_TOKEN)
        page.wait("the stream back after the restart",
                  lambda: page.js("return document.body.dataset.connection") == "live")
        page.wait("the reader with its card after the restart", lambda: page.card_state() == "present")
        later = page.feed()
        seqs = [int(s) for s, _ in later]
        if len(seqs) != len(set(seqs)):
            fail(f"an event shown twice after the restart: {later}")
        if later[:len(shown)] != shown:
            fail("the events shown before the restart changed")
        print("ok: desfired restarted: the page reconnected and shows the card, no event twice")

        # The charts: the debits' card calls counted from the server's metrics.
        for i in range(5):
            stack.ctl("value", "--reader", reader, "--aid", "F51001", "--file", "1",
                      "--key", "transit-read", "--key-no", "1")
            time.sleep(0.4)
        page.wait("a card-call rate in the charts",
                  lambda: driver.find_element(By.ID, "rate-calls").text not in ("", "–"))
        print("ok: the charts show a card-call rate:", driver.find_element(By.ID, "rate-calls").text)
        if args.screenshot:
            os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
            driver.save_screenshot(args.screenshot)
            print("screenshot:", args.screenshot)

        # The signed-in page (every panel, the admin's ledger too) on a phone and on a wall
        # screen; the keyboard reaches the controls.
        check_layout(driver, "board on a phone", 390, 844, True, 14)
        check_layout(driver, "board on a wall screen", 3840, 2160, False, 18)
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
        reached = set()
        for _ in range(12):
            driver.switch_to.active_element.send_keys(Keys.TAB)
            reached.add(driver.switch_to.active_element.get_attribute("id"))
        for control in ("sign-out", "events", "ledger-scroll"):
            if control not in reached:
                fail(f"Tab does not reach #{control} (reached {sorted(reached)})")
        print("ok: Tab reaches the sign-out button, the event feed and the ledger table")

        # Failed requests are expected while the network is cut and desfired restarts; a
        # script error never is.
        errors = [e for e in page.console_errors() if e.get("source") != "network"]
        if errors:
            fail(f"console errors: {errors}")
        print("PASS")
    finally:
        if driver is not None:
            driver.quit()
        stack.close()


if __name__ == "__main__":
    main()

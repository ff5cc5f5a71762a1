// desfired dashboard (docs/dashboard.md). Talks only to the HTTP API of the server that served
// it (docs/api.md, "HTTP API"): the session cookie signs every request in, the CSRF token goes
// with each POST and DELETE, and /v1/events brings the card events.
//
// Events: the first message of a stream is a snapshot (the readers and their cards), then
// events, each with its sequence number as the SSE id. The page keeps the last sequence it
// applied; after a reconnect it resumes after it (EventSource sends Last-Event-ID by itself;
// a stream the page opens again names it in ?resume_after=), so nothing is lost, and it drops
// anything at or below it, so nothing is shown twice. A `reset` event (the resume point left
// the server's history) is followed by a fresh snapshot that replaces the state.
//
// Ledger panel (admin): the rows of /v1/ledger/recent, polled, and the change outcomes of the
// event stream (?changes=1: committed, replayed, not committed, unknown), shown as they come.
// A change whose ledger row the poll has brought is shown once, by its row; a replay writes no
// row, so it is shown from its event.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    session: null,        // {caller, role, csrfToken}
    lastSequence: null,   // the last snapshot or event applied (a string: 64-bit)
    readers: new Map(),   // name -> {card: {uid, since} | null}
    pcscUnavailable: false,
    source: null,         // the EventSource
    retryTimer: null,
    pollTimer: null,
    metrics: null,        // the previous scrape: {time, taps, calls, buckets}
    charts: {},
    ledgerRows: [],       // the last answer of /v1/ledger/recent
    changes: [],          // change events of the stream, newest first (at most MAX_CHANGES)
  };
  const MAX_EVENTS = 100;
  const MAX_CHANGES = 50;
  const LEDGER_ROWS = 20;

  // --- HTTP -----------------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrfToken;
    const response = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return response;
  }

  async function errorText(response) {
    try {
      const e = await response.json();
      return `${e.code}: ${e.message}`;
    } catch (_) {
      return `HTTP ${response.status}`;
    }
  }

  // --- Sign-in ----------------------------------------------------------------------------------

  function showSignIn(message) {
    stopStreams();
    state.session = null;
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("who").textContent = "";
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    setConnection("signed-out", "signed out");
    $("token").focus();
  }

  async function start() {
    const response = await api("GET", "/v1/session");
    if (!response.ok) return showSignIn(await errorText(response));
    const session = await response.json();
    if (!session.signedIn) return showSignIn("");
    startBoard(session);
  }

  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = $("token").value;
    const response = await api("POST", "/v1/session", { token });
    $("token").value = "";
    if (!response.ok) return showSignIn(await errorText(response));
    startBoard(await response.json());
  });

  $("sign-out").addEventListener("click", async () => {
    await api("DELETE", "/v1/session");
    showSignIn("Signed out.");
  });

  function startBoard(session) {
    state.session = session;
    $("sign-in").hidden = true;
    $("board").hidden = false;
    $("sign-out").hidden = false;
    $("who").textContent = `${session.caller || "anonymous"} (${session.role})`;
    const admin = session.role === "admin";
    for (const el of document.querySelectorAll(".admin-only")) el.hidden = !admin;
    document.body.dataset.role = session.role;
    connect();
    poll();
    state.pollTimer = setInterval(poll, 2000);
  }

  // A 401 on a request of a signed-in page: the session ended (expired, or desfired restarted).
  function sessionEnded(response) {
    if (response.status !== 401 || !state.session) return false;
    showSignIn("The session ended: sign in again.");
    return true;
  }

  function stopStreams() {
    if (state.source) state.source.close();
    state.source = null;
    clearTimeout(state.retryTimer);
    clearInterval(state.pollTimer);
  }

  // --- Connection state -------------------------------------------------------------------------

  function setConnection(kind, text) {
    const el = $("connection");
    el.className = `conn conn-${kind}`;
    el.textContent = text;
    document.body.dataset.connection = kind;
  }

  // --- Events -----------------------------------------------------------------------------------

  // Change outcomes come with the stream for those who may read the ledger (admin).
  function canReadLedger() {
    return !!state.session && state.session.role === "admin";
  }

  function connect() {
    if (state.source) state.source.close();
    const params = new URLSearchParams();
    if (canReadLedger()) params.set("changes", "1");
    if (state.lastSequence !== null) params.set("resume_after", state.lastSequence);
    const query = params.toString();
    const url = query ? `/v1/events?${query}` : "/v1/events";
    const source = new EventSource(url);
    state.source = source;
    setConnection(state.lastSequence === null ? "connecting" : "reconnecting",
                  state.lastSequence === null ? "connecting" : "reconnecting");
    source.onopen = () => setConnection("live", "live");
    source.onmessage = (m) => onMessage(JSON.parse(m.data));
    source.addEventListener("reset", () => {
      // The resume point is gone from the server's history: a snapshot follows.
      state.lastSequence = null;
      addFeed("stream reset: the page reloads the readers", "");
    });
    source.addEventListener("end", () => reconnectSoon(source));
    source.onerror = () => {
      // EventSource retries by itself (with Last-Event-ID) unless the answer was an error.
      if (source.readyState === EventSource.CLOSED) reconnectSoon(source);
      else setConnection("reconnecting", "reconnecting");
    };
  }

  function reconnectSoon(source) {
    source.close();
    if (state.source !== source) return;
    setConnection("reconnecting", "reconnecting");
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(async () => {
      const response = await api("GET", "/v1/session").catch(() => null);
      const session = response && response.ok ? await response.json().catch(() => null) : null;
      if (session && !session.signedIn) return showSignIn("The session ended: sign in again.");
      connect();
    }, 2000);
  }

  function newer(sequence) {
    return state.lastSequence === null || BigInt(sequence) > BigInt(state.lastSequence);
  }

  function onMessage(item) {
    if (item.snapshot) {
      const s = item.snapshot;
      state.readers.clear();
      for (const r of s.readers || []) {
        state.readers.set(r.name, {
          card: r.cardPresent ? { uid: hex(r.uid), since: r.cardInsertedTime } : null,
        });
      }
      state.pcscUnavailable = !!s.pcscUnavailable;
      state.lastSequence = s.sequence || "0";
      renderReaders(new Set());
      return;
    }
    if (item.change) {
      if (!newer(item.change.sequence)) return;  // seen already
      state.lastSequence = item.change.sequence;
      addChange(item.change);
      return;
    }
    const e = item.event;
    if (!e || !newer(e.sequence)) return;  // seen already (a replay after a reconnect)
    state.lastSequence = e.sequence;
    const changed = new Set([e.reader]);
    switch (e.kind) {
      case "READER_ADDED":
        state.readers.set(e.reader, { card: null });
        break;
      case "READER_REMOVED":
        state.readers.delete(e.reader);
        break;
      case "CARD_INSERTED":
      case "CARD_UPDATED":
        state.readers.set(e.reader, { card: { uid: hex(e.uid), since: e.time } });
        break;
      case "CARD_REMOVED":
        state.readers.set(e.reader, { card: null });
        break;
      case "PCSC_UNAVAILABLE":
        state.pcscUnavailable = true;
        for (const r of state.readers.values()) r.card = null;
        break;
      case "PCSC_AVAILABLE":
        state.pcscUnavailable = false;
        break;
    }
    addFeed(describe(e), e.time, e.sequence);
    renderReaders(changed);
    if (e.kind === "CARD_REMOVED" || e.kind === "CARD_INSERTED") refreshLedgerSoon();
  }

  function describe(e) {
    const uid = e.uid ? ` ${hex(e.uid)}` : "";
    switch (e.kind) {
      case "READER_ADDED": return `reader added: ${e.reader}`;
      case "READER_REMOVED": return `reader removed: ${e.reader}`;
      case "CARD_INSERTED": return `card inserted${uid} on ${e.reader}`;
      case "CARD_REMOVED": return `card removed${uid} from ${e.reader}`;
      case "CARD_UPDATED": return `card read${uid} on ${e.reader}`;
      case "PCSC_UNAVAILABLE": return "pcscd unavailable";
      case "PCSC_AVAILABLE": return "pcscd available";
      default: return `${e.kind} ${e.reader || ""}`;
    }
  }

  function hex(b64) {
    if (!b64) return "";
    return Array.from(atob(b64), (c) => c.charCodeAt(0).toString(16).padStart(2, "0"))
      .join("").toUpperCase();
  }

  // An RFC 3339 time (the ledger's has 6 fractional digits, protobuf's up to 9) as a Date.
  function dateOf(iso) {
    return iso ? new Date(iso.replace(/(\.\d{3})\d+/, "$1")) : new Date();
  }

  function timeText(iso) {
    return dateOf(iso).toLocaleTimeString();
  }

  function addFeed(text, time, sequence) {
    const li = document.createElement("li");
    if (sequence) li.dataset.sequence = sequence;
    const t = document.createElement("time");
    t.dateTime = time || new Date().toISOString();
    t.textContent = timeText(time);
    li.append(t, document.createTextNode(text));
    const list = $("events");
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  function renderReaders(changed) {
    const list = $("readers");
    list.replaceChildren();
    const names = [...state.readers.keys()].sort();
    for (const name of names) {
      const r = state.readers.get(name);
      const li = document.createElement("li");
      li.className = "reader";
      li.dataset.reader = name;
      li.dataset.card = r.card ? "present" : "absent";
      const title = document.createElement("div");
      title.className = "reader-name";
      title.textContent = name;
      const card = document.createElement("div");
      card.className = `card ${r.card ? "card-present" : "card-absent"}`;
      if (changed.has(name)) card.classList.add(r.card ? "card-in" : "card-out");
      card.textContent = r.card ? `card ${r.card.uid || "(UID not read yet)"} since ${timeText(r.card.since)}`
                                : "no card";
      li.append(title, card);
      list.append(li);
    }
    $("no-readers").hidden = names.length > 0;
    $("pcsc-state").hidden = !state.pcscUnavailable;
  }

  // --- Ledger -----------------------------------------------------------------------------------

  let ledgerTimer = null;
  function refreshLedgerSoon() {
    clearTimeout(ledgerTimer);
    ledgerTimer = setTimeout(refreshLedger, 300);
  }

  function outcomeOf(row) {
    if (row.event === "PENDING") return "pending";
    if (row.event === "RECONCILED") {
      return { COMMITTED: "committed", NOT_COMMITTED: "not committed" }[row.outcome] || "unknown";
    }
    if (row.event === "DONE") {
      if (row.outcome === "OK") {
        return row.commit_state === "NOT_COMMITTED" ? "not committed" : "committed";
      }
      if (row.commit_state === "UNKNOWN") return "unknown";
      return "not committed";
    }
    return row.event.toLowerCase();
  }

  const CHANGE_OUTCOMES = {
    COMMITTED: "committed", REPLAYED: "replayed", NOT_COMMITTED: "not committed",
    UNKNOWN: "unknown",
  };

  function addChange(change) {
    state.changes.unshift(change);
    state.changes.length = Math.min(state.changes.length, MAX_CHANGES);
    renderLedger();
    refreshLedgerSoon();  // its row, and the chain's status after it
  }

  // The panel's lines, newest first: the ledger's rows, and the change events no row shows.
  function ledgerLines() {
    const rows = state.ledgerRows;
    // A PENDING row that a DONE or RECONCILED row settled is shown once, by the settling row.
    const settled = new Set(rows.map((r) => r.pending_seq).filter((s) => s));
    const lines = [];
    const seqs = new Set();
    for (const row of rows) {
      if (row.event !== "DONE" && row.event !== "RECONCILED" && row.event !== "PENDING") continue;
      if (row.event === "PENDING" && settled.has(row.seq)) continue;
      seqs.add(String(row.seq));
      lines.push({ key: `row-${row.seq}`, seq: String(row.seq), time: row.time,
                   method: row.method, requestId: row.request_id || "",
                   amount: row.amount, outcome: outcomeOf(row) });
    }
    for (const c of state.changes) {
      // A replay writes no row: its ledgerSeq names the row it was answered from.
      const shownByRow = c.outcome !== "REPLAYED" && c.ledgerSeq !== undefined &&
                         seqs.has(String(c.ledgerSeq));
      if (shownByRow) continue;
      lines.push({ key: `change-${c.sequence}`, seq: c.ledgerSeq || "", time: c.time,
                   method: c.method, requestId: c.requestId || "", amount: c.amount,
                   outcome: CHANGE_OUTCOMES[c.outcome] || "unknown" });
    }
    lines.sort((a, b) => dateOf(b.time) - dateOf(a.time));
    return lines.slice(0, LEDGER_ROWS + MAX_CHANGES);
  }

  function renderLedger() {
    const tbody = $("ledger").tBodies[0];
    tbody.replaceChildren();
    for (const line of ledgerLines()) {
      const tr = document.createElement("tr");
      tr.dataset.key = line.key;
      tr.dataset.requestId = line.requestId;
      tr.dataset.outcome = line.outcome;
      const cells = [line.seq, timeText(line.time), line.method, line.requestId || "—",
                     line.amount === null || line.amount === undefined ? "" : String(line.amount),
                     line.outcome];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      tr.lastElementChild.className = `outcome-${line.outcome.replace(/ /g, "-")}`;
      tbody.append(tr);
    }
  }

  async function refreshLedger() {
    if (!canReadLedger()) return;
    const response = await api("GET", `/v1/ledger/recent?limit=${LEDGER_ROWS}`).catch(() => null);
    if (!response || sessionEnded(response)) return;
    const verify = $("ledger-verify");
    if (!response.ok) {
      verify.textContent = await errorText(response);
      verify.className = "verify verify-bad";
      return;
    }
    const body = await response.json();
    state.ledgerRows = body.rows || [];
    renderLedger();
    const v = body.verify || {};
    verify.className = `verify ${v.ok ? "verify-ok" : "verify-bad"}`;
    verify.textContent = v.ok ? `chain verified (${v.rowsChecked} rows checked)`
                              : `chain BROKEN at row ${v.badSeq}`;
  }

  // --- Metrics and charts -----------------------------------------------------------------------

  // Prometheus text format: {name: [{labels, value}]} for the lines we use.
  function parseMetrics(text) {
    const out = {};
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const l of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
      (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[4]) });
    }
    return out;
  }

  function sum(samples, filter) {
    return (samples || []).filter((s) => !filter || filter(s.labels)).reduce((a, s) => a + s.value, 0);
  }

  function cardBuckets(metrics) {
    const buckets = new Map();
    for (const s of metrics.desfired_rpc_duration_seconds_bucket || []) {
      if (s.labels.service !== "CardService") continue;
      buckets.set(s.labels.le, (buckets.get(s.labels.le) || 0) + s.value);
    }
    return buckets;
  }

  // The 95th percentile of the calls between two scrapes, from the bucket counts' increase.
  function p95(now, before) {
    const les = [...now.keys()].sort((a, b) => Number(a) - Number(b));
    const total = (now.get("+Inf") || 0) - ((before && before.get("+Inf")) || 0);
    if (total <= 0) return null;
    for (const le of les) {
      const n = now.get(le) - ((before && before.get(le)) || 0);
      if (n >= 0.95 * total) return le === "+Inf" ? null : Number(le) * 1000;
    }
    return null;
  }

  function makeChart(id, label) {
    if (typeof Chart === "undefined") return null;
    return new Chart($(id), {
      type: "line",
      data: { labels: [], datasets: [{ label, data: [], borderColor: "#5cc8ff", pointRadius: 0,
                                      tension: 0.2 }] },
      options: { animation: false, responsive: true, plugins: { legend: { display: false } },
                 scales: { x: { ticks: { color: "#a9b6c2", maxTicksLimit: 6 } },
                           y: { beginAtZero: true, ticks: { color: "#a9b6c2" } } } },
    });
  }

  function push(chart, label, value) {
    if (!chart) return;
    chart.data.labels.push(label);
    chart.data.datasets[0].data.push(value);
    if (chart.data.labels.length > 60) {
      chart.data.labels.shift();
      chart.data.datasets[0].data.shift();
    }
    chart.update();
  }

  async function refreshMetrics() {
    const response = await api("GET", "/v1/metrics").catch(() => null);
    if (response && sessionEnded(response)) return;
    if (!response || !response.ok) {
      $("rates-panel").hidden = true;
      return;
    }
    $("rates-panel").hidden = false;
    if (!state.charts.taps) {
      state.charts.taps = makeChart("chart-taps", "records/s");
      state.charts.calls = makeChart("chart-calls", "calls/s");
      state.charts.latency = makeChart("chart-latency", "ms");
    }
    const m = parseMetrics(await response.text());
    const now = {
      time: performance.now(),
      taps: sum(m.desfired_tap_records_parsed_total),
      calls: sum(m.desfired_rpc_total, (l) => l.service === "CardService"),
      buckets: cardBuckets(m),
    };
    const before = state.metrics;
    state.metrics = now;
    if (!before) return;
    const seconds = (now.time - before.time) / 1000;
    const label = new Date().toLocaleTimeString();
    const taps = Math.max(0, (now.taps - before.taps) / seconds);
    const calls = Math.max(0, (now.calls - before.calls) / seconds);
    const latency = p95(now.buckets, before.buckets);
    push(state.charts.taps, label, taps);
    push(state.charts.calls, label, calls);
    push(state.charts.latency, label, latency);
    $("rate-taps").textContent = taps.toFixed(0);
    $("rate-calls").textContent = calls.toFixed(1);
    $("rate-latency").textContent = latency === null ? "–" : `≤ ${latency.toFixed(0)}`;
  }

  function poll() {
    refreshMetrics();
    refreshLedger();
  }

  start();
})();

// Chat client: one WebSocket per joined room, speaking wire protocol v1.
//
// Outgoing: every text frame is a chat message. Incoming: one JSON event per
// frame (welcome, connection, disconnection, message, presence, error).
// User-supplied text is only ever written with textContent.

const NAME_MAX = 32; // client_id and room limit, in Unicode code points
const DEFAULT_ROOM = "general";
const DEFAULT_MAX_BYTES = 4096; // until the server's welcome says otherwise
const BACKOFF_BASE_MS = 1000; // first reconnect waits 0.5 to 1 s
const BACKOFF_MAX_MS = 30000; // delays stop doubling here
const MAX_RENDERED = 1000; // message rows kept per room; older ones are dropped
const STICK_PX = 80; // "at the bottom" slack for auto-scroll

const CLOSE_REASONS = {
  1001: "the server is shutting down",
  1002: "protocol error",
  1003: "binary frame refused",
  1007: "invalid text",
  1008: "rate limit exceeded",
  1009: "message too big",
  4000: "idle timeout",
  4001: "connection too slow",
};

const $ = (id) => document.getElementById(id);
const el = {
  status: $("status"),
  statusText: $("status-text"),
  statusLive: $("status-live"),
  retry: $("retry-btn"),
  joinForm: $("join-form"),
  username: $("username"),
  room: $("room"),
  connect: $("connect-btn"),
  leave: $("leave-btn"),
  joinError: $("join-error"),
  messages: $("messages"),
  emptyHint: $("empty-hint"),
  sendForm: $("send-form"),
  input: $("messageInput"),
  send: $("send-btn"),
  counter: $("byte-counter"),
  sendError: $("send-error"),
  memberCount: $("member-count"),
  members: $("members"),
  more: $("members-more"),
  title: $("title"),
};

const encoder = new TextEncoder();
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

// Per-room memory: the last message seq seen and the rendered rows, so
// switching back to a room resumes it where it was left.
// room name -> { lastSeq: number|null, rows: Node[] }
const rooms = new Map();

const state = {
  phase: "disconnected", // disconnected | connecting | connected | reconnecting
  user: "",
  room: "",
  ws: null,
  attempt: 0, // failed attempts since the last welcome
  retryAt: 0,
  retryTimer: 0,
  countdownTimer: 0,
  maxBytes: DEFAULT_MAX_BYTES,
  // Online list: a multiset of names (one name may hold several connections).
  members: new Map(),
  memberCount: 0,
  ownJoinPending: false,
};

// validateName returns an error message, or "" when name is acceptable as a
// client_id or room: 1 to 32 code points, well-formed, no control characters.
// The server also refuses a slash in a client_id, which is part of the path.
export function validateName(name, what) {
  if (name.length === 0) return `Enter a ${what}.`;
  if (typeof name.isWellFormed === "function" ? !name.isWellFormed() : /\p{Cs}/u.test(name)) {
    return `The ${what} contains an invalid character.`;
  }
  const n = [...name].length;
  if (n > NAME_MAX) return `The ${what} is ${n} characters long; the limit is ${NAME_MAX}.`;
  if (/\p{Cc}/u.test(name)) return `The ${what} must not contain control characters (such as tabs or line breaks).`;
  if (what === "username" && name.includes("/")) return "The username must not contain a slash (/).";
  return "";
}

function roomMemory(room) {
  let m = rooms.get(room);
  if (!m) {
    m = { lastSeq: null, rows: [] };
    rooms.set(room, m);
  }
  return m;
}

// ---- status and controls ----

function setPhase(phase, text, announce) {
  state.phase = phase;
  el.status.dataset.state = phase;
  el.statusText.textContent = text;
  if (announce) el.statusLive.textContent = announce;
  const live = phase === "connected";
  const active = phase !== "disconnected";
  el.input.disabled = !live;
  el.username.disabled = active;
  el.leave.hidden = !active;
  el.connect.textContent = active ? "Switch room" : "Connect";
  el.retry.hidden = phase !== "reconnecting";
  updateCounter();
  updateConnectButton();
}

function updateConnectButton() {
  if (state.phase === "disconnected") {
    el.connect.disabled = false;
    return;
  }
  const wanted = el.room.value.trim() || DEFAULT_ROOM;
  el.connect.disabled = wanted === state.room;
}

function updateCounter() {
  const text = el.input.value;
  const bytes = encoder.encode(text).length;
  const over = bytes > state.maxBytes;
  el.counter.textContent = `${bytes} / ${state.maxBytes} bytes`;
  el.counter.classList.toggle("over", over);
  if (over) {
    el.sendError.textContent = `Too long: ${bytes} bytes, the limit is ${state.maxBytes}.`;
  } else if (el.sendError.dataset.kind === "size") {
    el.sendError.textContent = "";
  }
  el.sendError.dataset.kind = over ? "size" : "";
  el.input.setAttribute("aria-invalid", over ? "true" : "false");
  el.send.disabled = state.phase !== "connected" || over || text.trim() === "";
}

// ---- rendering ----

function isNearBottom() {
  const m = el.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < STICK_PX;
}

function scrollToBottom() {
  el.messages.scrollTop = el.messages.scrollHeight;
}

function timeElement(ts) {
  const t = document.createElement("time");
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) {
    t.textContent = "";
    return t;
  }
  t.dateTime = ts;
  t.textContent = timeFormat.format(d);
  t.title = fullTimeFormat.format(d);
  return t;
}

function append(row, force) {
  const stick = force || isNearBottom();
  el.emptyHint.hidden = true;
  el.messages.append(row);
  const mem = roomMemory(state.room);
  mem.rows.push(row);
  while (mem.rows.length > MAX_RENDERED) mem.rows.shift().remove();
  if (stick) scrollToBottom();
}

function renderMessage(ev) {
  const own = ev.client_id === state.user;
  const row = document.createElement("article");
  row.className = own ? "msg own" : "msg";
  if (typeof ev.seq === "number") row.dataset.seq = String(ev.seq);
  const meta = document.createElement("header");
  meta.className = "meta";
  const who = document.createElement("span");
  who.className = "sender";
  who.textContent = ev.client_id;
  meta.append(who);
  if (own) {
    const you = document.createElement("span");
    you.className = "you";
    you.textContent = "(you)";
    meta.append(" ", you);
  }
  meta.append(" ", timeElement(ev.timestamp));
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = ev.message;
  row.append(meta, body);
  append(row, own);
}

// notice adds a one-line event (join, leave, error, local note) to the log.
function notice(kind, text, ts) {
  const row = document.createElement("p");
  row.className = `notice notice-${kind}`;
  const span = document.createElement("span");
  span.className = "notice-text";
  span.textContent = text;
  row.append(span);
  if (ts) row.append(" ", timeElement(ts));
  append(row, false);
}

function renderMembers() {
  el.members.replaceChildren();
  let listed = 0;
  const names = [...state.members.keys()].sort((a, b) => a.localeCompare(b));
  for (const name of names) {
    const n = state.members.get(name);
    listed += n;
    const li = document.createElement("li");
    const who = document.createElement("span");
    who.className = "member-name";
    who.textContent = name;
    li.append(who);
    if (name === state.user) {
      li.classList.add("own");
      const you = document.createElement("span");
      you.className = "you";
      you.textContent = " (you)";
      li.append(you);
    }
    if (n > 1) {
      const times = document.createElement("span");
      times.className = "times";
      times.textContent = ` ×${n}`;
      li.append(times);
    }
    el.members.append(li);
  }
  const extra = state.memberCount - listed;
  el.more.hidden = extra <= 0;
  el.more.textContent = extra > 0 ? `and ${extra} more` : "";
  el.memberCount.textContent = state.memberCount > 0 ? `(${state.memberCount})` : "";
}

function addMember(name, delta) {
  const n = (state.members.get(name) || 0) + delta;
  if (n > 0) state.members.set(name, n);
  else state.members.delete(name);
}

// showRoom swaps the message log to the remembered rows of room.
function showRoom(room) {
  el.messages.setAttribute("aria-busy", "true");
  for (const node of [...el.messages.children]) {
    if (node !== el.emptyHint) node.remove();
  }
  const mem = roomMemory(room);
  el.messages.append(...mem.rows);
  el.emptyHint.hidden = mem.rows.length > 0;
  el.emptyHint.textContent = "No messages yet.";
  el.messages.removeAttribute("aria-busy");
  scrollToBottom();
  el.title.textContent = `Chat · ${room}`;
  document.title = `${room} · Chat`;
}

// ---- connection ----

function wsURL(user, room, since) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  let url = `${proto}//${location.host}/ws/${encodeURIComponent(user)}?room=${encodeURIComponent(room)}`;
  if (since !== null) url += `&since=${since}`;
  return url;
}

function open() {
  clearTimers();
  if (state.ws) {
    const old = state.ws;
    state.ws = null;
    old.close();
  }
  const mem = roomMemory(state.room);
  const ws = new WebSocket(wsURL(state.user, state.room, mem.lastSeq));
  state.ws = ws;
  let opened = false;
  const retrying = state.phase === "reconnecting";
  setPhase("connecting", retrying ? "Reconnecting…" : "Connecting…", retrying ? "" : "Connecting");

  ws.onopen = () => {
    if (state.ws !== ws) return;
    opened = true;
    setPhase("connected", `Connected to ${state.room} as ${state.user}`, `Connected to ${state.room}`);
  };
  ws.onmessage = (e) => {
    if (state.ws !== ws) return;
    let ev;
    try {
      ev = JSON.parse(e.data);
    } catch {
      return;
    }
    if (ev && typeof ev === "object") handleEvent(ev);
  };
  ws.onclose = (e) => {
    if (state.ws !== ws) return; // a socket we already abandoned
    state.ws = null;
    if (opened) {
      const why = CLOSE_REASONS[e.code];
      notice("local", why ? `Connection lost: ${why}.` : "Connection lost.");
    }
    state.members.clear();
    state.memberCount = 0;
    renderMembers();
    scheduleReconnect();
    if (!opened) checkRefusal(ws);
  };
}

// checkRefusal asks the server over plain HTTP why an upgrade failed: a
// browser WebSocket cannot see the HTTP 400 reason. When the server refuses
// the name or room, retrying cannot help, so the page stops and says why.
async function checkRefusal(ws) {
  let reason = "";
  try {
    const r = await fetch(ws.url.replace(/^ws/, "http"), { cache: "no-store" });
    if (r.status === 400) reason = (await r.text()).trim();
  } catch {
    return; // server unreachable: keep retrying
  }
  if (!/^bad (client_id|room)\b/.test(reason) || state.phase !== "reconnecting" || state.ws !== null) return;
  if (!ws.url.startsWith(wsURL(state.user, state.room, null))) return; // another room by now
  closeSocket();
  setPhase("disconnected", "Disconnected", "Disconnected");
  el.joinError.textContent = `The server refused to connect: ${reason}.`;
}

function handleEvent(ev) {
  switch (ev.type) {
    case "welcome":
      onWelcome(ev);
      break;
    case "message": {
      const mem = roomMemory(state.room);
      if (typeof ev.seq === "number") {
        if (mem.lastSeq !== null && ev.seq <= mem.lastSeq) return; // already shown
        mem.lastSeq = ev.seq;
      }
      renderMessage(ev);
      break;
    }
    case "connection":
      if (ev.client_id === state.user && state.ownJoinPending) {
        state.ownJoinPending = false; // already counted from welcome
      } else {
        addMember(ev.client_id, 1);
      }
      if (typeof ev.member_count === "number") state.memberCount = ev.member_count;
      renderMembers();
      notice("join", ev.message || `${ev.client_id} joined the chat`, ev.timestamp);
      break;
    case "disconnection":
      addMember(ev.client_id, -1);
      if (typeof ev.member_count === "number") state.memberCount = ev.member_count;
      renderMembers();
      notice("leave", ev.message || `${ev.client_id} left the chat`, ev.timestamp);
      break;
    case "presence":
      if (typeof ev.member_count === "number") state.memberCount = ev.member_count;
      renderMembers();
      break;
    case "error":
      notice("error", ev.message || "The server reported an error.", ev.timestamp);
      break;
  }
}

function onWelcome(ev) {
  state.attempt = 0;
  if (typeof ev.max_message_bytes === "number" && ev.max_message_bytes > 0) {
    state.maxBytes = ev.max_message_bytes;
  }
  const mem = roomMemory(state.room);
  const seq = typeof ev.seq === "number" ? ev.seq : null;
  if (mem.lastSeq === null) {
    mem.lastSeq = seq;
  } else if (seq !== null && (ev.gap || seq < mem.lastSeq)) {
    mem.lastSeq = seq;
    notice("gap", "Some messages could not be recovered while you were away.", ev.timestamp);
  }
  state.members.clear();
  for (const name of Array.isArray(ev.members) ? ev.members : []) addMember(String(name), 1);
  if (!state.members.has(state.user)) addMember(state.user, 1);
  state.ownJoinPending = true;
  state.memberCount = typeof ev.member_count === "number" ? ev.member_count : 0;
  renderMembers();
  updateCounter();
}

function backoffDelay(attempt) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return cap / 2 + Math.random() * (cap / 2); // "equal jitter"
}

function scheduleReconnect() {
  clearTimers();
  const delay = backoffDelay(state.attempt);
  state.attempt++;
  state.retryAt = Date.now() + delay;
  const wasUp = state.phase === "connected";
  setPhase("reconnecting", countdownText(), wasUp ? "Connection lost, reconnecting" : "");
  state.countdownTimer = setInterval(() => {
    el.statusText.textContent = countdownText();
  }, 250);
  state.retryTimer = setTimeout(open, delay);
}

function countdownText() {
  const s = Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000));
  return `Reconnecting in ${s}s`;
}

function clearTimers() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  state.retryTimer = 0;
  state.countdownTimer = 0;
}

// closeSocket ends the current connection on purpose; no reconnect follows.
function closeSocket() {
  clearTimers();
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, "bye");
  state.members.clear();
  state.memberCount = 0;
  renderMembers();
}

function join(user, room) {
  closeSocket();
  state.user = user;
  state.room = room;
  state.attempt = 0;
  showRoom(room);
  const url = new URL(location.href);
  url.searchParams.set("room", room);
  history.replaceState(null, "", url);
  try {
    localStorage.setItem("chat.username", user);
  } catch {
    // storage may be unavailable (private mode); the name is just not remembered
  }
  open();
}

function leave() {
  closeSocket();
  if (state.room) notice("local", `You left ${state.room}.`);
  setPhase("disconnected", "Disconnected", "Disconnected");
  el.username.focus();
}

// ---- user input ----

el.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const user = el.username.value.trim();
  const room = el.room.value.trim() || DEFAULT_ROOM;
  const problem = validateName(user, "username") || validateName(room, "room name");
  el.joinError.textContent = problem;
  const bad = problem.includes("username") ? el.username : el.room;
  el.username.setAttribute("aria-invalid", problem && bad === el.username ? "true" : "false");
  el.room.setAttribute("aria-invalid", problem && bad === el.room ? "true" : "false");
  if (problem) {
    bad.focus();
    return;
  }
  el.room.value = room;
  join(user, room);
  el.input.focus();
});

el.leave.addEventListener("click", leave);
el.retry.addEventListener("click", () => {
  if (state.phase === "reconnecting") open();
});
el.room.addEventListener("input", updateConnectButton);
el.username.addEventListener("input", () => {
  el.joinError.textContent = "";
  el.username.setAttribute("aria-invalid", "false");
});

el.input.addEventListener("input", updateCounter);
el.sendForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = el.input.value;
  if (text.trim() === "" || state.phase !== "connected" || !state.ws) return;
  const bytes = encoder.encode(text).length;
  if (bytes > state.maxBytes) {
    updateCounter();
    return;
  }
  state.ws.send(text);
  el.input.value = "";
  el.sendError.textContent = "";
  updateCounter();
  el.input.focus();
});

// Reconnect at once when the browser says the network is back.
window.addEventListener("online", () => {
  if (state.phase === "reconnecting") open();
});

// ---- start ----

{
  const params = new URLSearchParams(location.search);
  el.room.value = params.get("room") || DEFAULT_ROOM;
  try {
    el.username.value = localStorage.getItem("chat.username") || "";
  } catch {
    // no storage: start with an empty name
  }
  setPhase("disconnected", "Disconnected", "");
  renderMembers();
  (el.username.value ? el.connect : el.username).focus();
}

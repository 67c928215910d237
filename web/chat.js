// Chat client: one WebSocket per joined room, speaking wire protocol v1 with
// the chat.v1 subprotocol.
//
// Outgoing: JSON commands (chat.v1): each message as {"type":"message",
// "text":..., "id":...}, shown as pending until the server's ack with its
// id; an application ping; typing. Against a server that does not speak
// chat.v1, a message is the frame's raw text. Incoming: one JSON event per
// frame (welcome, connection, disconnection, message, presence, error,
// ack, pong, typing).
// User-supplied text is only ever written with textContent; links in it are
// made with createElement after URL parsing allowed their scheme. A sign-in
// token (from the page URL's #token= or ?token=, or the token field) is
// offered as the subprotocol bearer.<token> beside chat.v1, never put in
// the WebSocket URL.

import { checkName, MAX_CHARS as NAME_MAX } from "./names.js";

const DEFAULT_ROOM = "general";
const SUBPROTOCOL = "chat.v1"; // asks the server for welcome, presence and error events
const DEFAULT_MAX_BYTES = 4096; // until the server's welcome says otherwise
const BACKOFF_BASE_MS = 1000; // first reconnect waits 0.5 to 1 s
const BACKOFF_MAX_MS = 30000; // delays stop doubling here
const REFUSAL_CHECK_MS = 5000; // longest wait for the plain-HTTP answer that explains a failed upgrade
const SOCKET_FAIL_LIMIT = 3; // upgrades the server would accept but that still fail, before the page stops
const ERROR_CLOSE_LIMIT = 3; // error closes in a row (1011, 1008, 4001...) before the page stops
const STABLE_MS = 60000; // a connection open this long resets the error-close count
const MAX_RENDERED = 1000; // message rows kept per room; older ones are dropped
const STICK_PX = 80; // "at the bottom" slack for auto-scroll
const GROUP_MS = 5 * 60 * 1000; // messages of one sender this close share one name and time
const TAB_BEAT_MS = 30000; // how often a joined tab renews its name in the tab registry
const TAB_FRESH_MS = 150000; // registry entries older than this belong to tabs that are gone
const TICK_MS = 1000; // how often the heartbeat, pending messages and typing are looked after
const PING_MS = 10000; // an application ping this often while connected
const WATCHDOG_MS = 2 * PING_MS; // no frame for this long, and a ping unanswered for PING_MS: the server is not responding
const CONNECT_TIMEOUT_MS = 10000; // an upgrade unanswered this long is abandoned (a frozen server accepts TCP connections)
const PENDING_FAIL_MS = 30000; // a message unconfirmed for this long while connected is marked failed
const PENDING_MAX_SENDS = 4; // or once it was sent on this many connections without an ack
const TYPING_SEND_MS = 3000; // least time between two typing commands: the server forwards one per 2 s, and network jitter must not make it drop one
const TYPING_SHOW_MS = 5000; // a typing indicator lasts this long after the last typing event

// Close codes: what the page says, and what it does. Unless token or
// replaced, the page reconnects with backoff; error: counts towards
// ERROR_CLOSE_LIMIT; token: a new sign-in token is needed; replaced: the
// page stops.
const CLOSES = {
  1000: { why: "the server closed the connection" },
  1001: { why: "the server is shutting down" },
  1002: { why: "protocol error", error: true },
  1003: { why: "binary frame refused", error: true },
  1007: { why: "invalid text", error: true },
  1008: { why: "rate limit exceeded", error: true },
  1009: { why: "message too big", error: true },
  1011: { why: "internal server error", error: true },
  4000: { why: "idle timeout" },
  4001: { why: "connection too slow", error: true },
  4002: { why: "your sign-in token expired", token: true },
  4003: { why: "a newer connection with this name took its place", replaced: true },
};

const $ = (id) => document.getElementById(id);
const el = {
  app: $("app"),
  status: $("status"),
  statusText: $("status-text"),
  statusLive: $("status-live"),
  retry: $("retry-btn"),
  connNote: $("conn-note"),
  roomToggle: $("room-toggle"),
  membersToggle: $("members-toggle"),
  membersToggleCount: $("members-toggle-count"),
  joinForm: $("join-form"),
  username: $("username"),
  nameHint: $("name-hint"),
  room: $("room"),
  tokenField: $("token-field"),
  token: $("token"),
  connect: $("connect-btn"),
  leave: $("leave-btn"),
  joinError: $("join-error"),
  messages: $("messages"),
  typing: $("typing"),
  emptyHint: $("empty-hint"),
  newMsgs: $("new-msgs"),
  sendForm: $("send-form"),
  input: $("messageInput"),
  send: $("send-btn"),
  counter: $("byte-counter"),
  sendError: $("send-error"),
  online: $("online"),
  memberCount: $("member-count"),
  members: $("members"),
  more: $("members-more"),
  title: $("title"),
};

const encoder = new TextEncoder();
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const fullTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });

// Per-room memory, so that switching back to a room or reconnecting resumes
// it where it was left. room name -> {
//   lastSeq: number|null  last message seq shown (null: never joined)
//   epoch: string|null    the room history's epoch from the last welcome
//   joined: boolean       the own join notice was shown once already
//   rows: Node[]          rendered rows
//   lastDay: string       local day ("YYYY-MM-DD") of the last dated row
//   group: {sender, at}|null  the message group the next message may join
//   pending: Map<id, Pending>  own messages not yet confirmed, oldest first
// }
// Pending: {id, text, row, sentOn: WebSocket|null, sends, waited (ms
// connected since sent), seq (from the ack, until the message itself
// arrives), failed}
const rooms = new Map();

const state = {
  phase: "disconnected", // disconnected | connecting | connected | reconnecting
  user: "",
  room: "",
  token: "", // sign-in token, kept in memory only
  // The servers to connect to, WebSocket base URLs: this page's own first,
  // then the cluster's other nodes from GET /peers; server indexes it.
  servers: [`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}`],
  server: 0,
  ws: null,
  joinId: 0, // changes with every join and leave, so late answers are ignored
  attempt: 0, // failed attempts since the last welcome
  socketFails: 0, // upgrades that failed although the server would accept them
  errorCloses: 0, // error closes in a row
  retryAt: 0,
  retryWhy: "",
  retryTimer: 0,
  countdownTimer: 0,
  maxBytes: DEFAULT_MAX_BYTES,
  // Online list: a multiset of names (one name may hold several connections).
  members: new Map(),
  memberCount: 0,
  welcomed: false, // this connection had its welcome
  ownJoinPending: false, // the own join notice of this connection is still to come
  firstJoin: false, // this connection is the page's first to its room
  replayUntil: null, // seq of the last replayed message, while a replay is under way
  unread: [], // rows of others' messages not seen yet, oldest first
  v1: false, // this connection speaks chat.v1 (commands, acks, pongs)
  openedAt: 0, // when the current socket was made, or opened
  lastFrameAt: 0, // when the server last sent a frame on this connection
  pingOutstanding: 0, // when the oldest unanswered ping was sent, 0 for none
  lastPingAt: 0,
  lastTick: 0,
  msgSeq: 0, // numbers the ids of this tab's messages
  typingSentAt: 0, // when this page last said it is typing
  typingTimer: 0, // the timer of a typing command held back by TYPING_SEND_MS, 0 for none
  typers: new Map(), // client_id -> time its typing indicator expires
};

// nameProblem returns why name cannot be used as a client_id (kind
// "client_id", shown as what) or a room, with the reason of names.js, the
// server's rules; "" when it is accepted.
export function nameProblem(name, kind, what) {
  const { error } = checkName(name, kind);
  if (!error) return "";
  if (error === "empty") return `Enter a ${what}.`;
  if (error.startsWith("longer than")) {
    return `The ${what} is ${[...name.normalize("NFC")].length} characters long; the limit is ${NAME_MAX} (${error}).`;
  }
  if (error.startsWith("contains a control character")) {
    return `The ${what} must not contain control characters such as tabs or line breaks (${error}).`;
  }
  if (error.startsWith("contains a slash")) return `The ${what} must not contain a slash (${error}).`;
  return `The ${what} cannot be used: ${error}.`;
}

function roomMemory(room) {
  let m = rooms.get(room);
  if (!m) {
    m = { lastSeq: null, epoch: null, joined: false, rows: [], lastDay: "", group: null, pending: new Map() };
    rooms.set(room, m);
  }
  return m;
}

// ---- status and controls ----

function setPhase(phase, text, announce, retryLabel) {
  state.phase = phase;
  el.status.dataset.state = phase;
  el.statusText.textContent = text;
  if (announce) el.statusLive.textContent = announce;
  const live = phase === "connected";
  const active = phase !== "disconnected";
  el.app.dataset.joined = active ? "true" : "false";
  el.input.disabled = !live;
  el.username.disabled = active;
  el.leave.hidden = !active;
  el.connect.textContent = active ? "Switch room" : "Connect";
  // Retry: "Retry now" while a reconnect is scheduled, or "Retry" after
  // the page stopped on a failure that may pass.
  el.retry.hidden = phase !== "reconnecting" && !retryLabel;
  el.retry.textContent = retryLabel || "Retry now";
  if (!active) setFolded(el.joinForm, el.roomToggle, false);
  updateCounter();
  updateConnectButton();
}

function updateConnectButton() {
  if (state.phase === "disconnected") {
    el.connect.disabled = false;
    return;
  }
  const wanted = el.room.value.trim() || DEFAULT_ROOM;
  el.connect.disabled = wanted === state.room && el.token.value === state.token;
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

// fitInput grows the message field with its text, up to the CSS max-height.
function fitInput() {
  el.input.style.height = "auto";
  el.input.style.height = `${el.input.scrollHeight + el.input.offsetHeight - el.input.clientHeight}px`;
}

// setNote shows or clears the line under the header that explains a
// connection problem the page keeps working around.
function setNote(text) {
  el.connNote.textContent = text;
  el.connNote.hidden = text === "";
}

// ---- phone layout: folding panels ----

// setFolded opens (or folds) a panel that the phone layout folds away once
// connected; on wide screens the CSS ignores the fold.
function setFolded(panel, toggle, open) {
  panel.classList.toggle("unfolded", open);
  toggle.setAttribute("aria-expanded", open ? "true" : "false");
}

el.roomToggle.addEventListener("click", () => {
  const open = !el.joinForm.classList.contains("unfolded");
  setFolded(el.joinForm, el.roomToggle, open);
  if (open) el.room.focus();
});
el.membersToggle.addEventListener("click", () => {
  const open = !el.online.classList.contains("unfolded");
  setFolded(el.online, el.membersToggle, open);
  if (open) el.online.querySelector("summary").focus();
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  if (el.online.classList.contains("unfolded")) {
    setFolded(el.online, el.membersToggle, false);
    el.membersToggle.focus();
  } else if (el.joinForm.classList.contains("unfolded") && state.phase !== "disconnected") {
    setFolded(el.joinForm, el.roomToggle, false);
    el.roomToggle.focus();
  }
});

// With a phone's keyboard open, the visual viewport is what is left: the
// page takes its height so that the composer stays in view.
if (window.visualViewport) {
  const vv = window.visualViewport;
  const fit = () => {
    const stick = isNearBottom();
    if (Math.abs(vv.scale - 1) < 0.01) {
      document.documentElement.style.setProperty("--viewport-height", `${Math.round(vv.height)}px`);
    }
    if (stick) scrollToBottom();
  };
  vv.addEventListener("resize", fit);
  fit();
}

// ---- rendering ----

function isNearBottom() {
  const m = el.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < STICK_PX;
}

function scrollToBottom() {
  el.messages.scrollTop = el.messages.scrollHeight;
}

function dayKey(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// dayLabel names a local day: "Today", "Yesterday" or its date.
function dayLabel(key) {
  const now = new Date();
  if (key === dayKey(now)) return "Today";
  const y = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (key === dayKey(y)) return "Yesterday";
  const [yy, mm, dd] = key.split("-").map(Number);
  return dayFormat.format(new Date(yy, mm - 1, dd));
}

// relabelDays keeps "Today" and "Yesterday" true after midnight.
function relabelDays() {
  for (const t of el.messages.querySelectorAll(".day-sep time")) {
    const label = dayLabel(t.dateTime);
    if (t.textContent !== label) t.textContent = label;
  }
}
setInterval(relabelDays, 60000);

function timeElement(ts) {
  const t = document.createElement("time");
  const d = validDate(ts);
  if (!d) return t;
  t.dateTime = ts;
  t.textContent = timeFormat.format(d);
  t.title = fullTimeFormat.format(d);
  return t;
}

function validDate(ts) {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? null : d;
}

function append(row, force, date) {
  const stick = force || isNearBottom();
  el.emptyHint.hidden = true;
  const mem = roomMemory(state.room);
  const rows = [row];
  if (date) {
    const key = dayKey(date);
    if (key !== mem.lastDay) {
      mem.lastDay = key;
      mem.group = null;
      const sep = document.createElement("h3");
      sep.className = "day-sep";
      const t = document.createElement("time");
      t.dateTime = key;
      t.textContent = dayLabel(key);
      sep.append(t);
      rows.unshift(sep);
    }
  }
  // Pending messages stay last.
  const firstPending = el.messages.querySelector(":scope > .pending-msg");
  for (const r of rows) el.messages.insertBefore(r, firstPending);
  mem.rows.push(...rows);
  while (mem.rows.length > MAX_RENDERED) mem.rows.shift().remove();
  if (stick) scrollToBottom();
}

// URL_RE finds http and https URLs in text; what it finds is still parsed
// with URL before it becomes a link.
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;

// trimURL drops punctuation that ends a sentence rather than the URL, and a
// closing bracket that has no opening one inside the URL.
function trimURL(s) {
  for (;;) {
    const last = s.at(-1);
    if (/[.,;:!?'*]/.test(last)) {
      s = s.slice(0, -1);
    } else if ((last === ")" && count(s, "(") < count(s, ")")) || (last === "]" && count(s, "[") < count(s, "]"))) {
      s = s.slice(0, -1);
    } else {
      return s;
    }
  }
}

function count(s, c) {
  return s.split(c).length - 1;
}

// linkify returns text as nodes: text nodes, and for every http or https
// URL an <a> that opens it in a new tab without access to this page.
function linkify(text) {
  const frag = document.createDocumentFragment();
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    const raw = trimURL(m[0]);
    let url = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) continue;
    if (m.index > at) frag.append(document.createTextNode(text.slice(at, m.index)));
    const a = document.createElement("a");
    a.textContent = raw;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.href = url.href;
    frag.append(a);
    at = m.index + raw.length;
  }
  if (at < text.length) frag.append(document.createTextNode(text.slice(at)));
  return frag;
}

// senderHeader returns a message row's header: the sender's name, and
// "(you)" when own.
function senderHeader(name, own) {
  const meta = document.createElement("header");
  meta.className = "meta";
  const who = document.createElement("span");
  who.className = "sender";
  who.textContent = name;
  meta.append(who);
  if (own) {
    const you = document.createElement("span");
    you.className = "you";
    you.textContent = "(you)";
    meta.append(" ", you);
  }
  return meta;
}

function renderMessage(ev, countUnread) {
  const own = ev.client_id === state.user;
  const mem = roomMemory(state.room);
  const date = validDate(ev.timestamp);
  const row = document.createElement("article");
  row.className = own ? "msg own" : "msg";
  if (typeof ev.seq === "number") row.dataset.seq = String(ev.seq);
  const meta = senderHeader(ev.client_id, own);
  meta.append(" ", timeElement(ev.timestamp));
  const body = document.createElement("p");
  body.className = "text";
  body.append(linkify(String(ev.message ?? "")));
  row.append(meta, body);
  append(row, own, date);
  // A message close after the previous one from the same sender joins its
  // group: name and time are shown once (they stay for screen readers).
  const g = mem.group;
  if (g && date && g.sender === ev.client_id && date - g.at >= 0 && date - g.at < GROUP_MS) {
    row.classList.add("cont");
    row.title = fullTimeFormat.format(date);
  }
  mem.group = date ? { sender: ev.client_id, at: date.getTime() } : null;
  if (countUnread && !own) addUnread(row);
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
  append(row, false, ts ? validDate(ts) : null);
  roomMemory(state.room).group = null;
}

// ---- unread messages ----

// addUnread counts row as unread until it has been in view in a visible
// tab, marks where the unread ones start, and offers a jump to the newest.
function addUnread(row) {
  const first = state.unread.length === 0;
  state.unread.push(row);
  markRead();
  if (first && state.unread[0] === row) {
    for (const line of el.messages.querySelectorAll(".unread-line")) line.remove();
    const line = document.createElement("div");
    line.className = "unread-line";
    line.setAttribute("aria-hidden", "true");
    line.textContent = "New messages";
    row.before(line);
    row.classList.remove("cont"); // the line splits the group: show the name again
  }
}

// markRead drops the unread messages the reader can see, oldest first, and
// updates the title and the "new messages" button.
function markRead() {
  if (!document.hidden) {
    const bottom = el.messages.getBoundingClientRect().bottom;
    while (state.unread.length > 0) {
      const row = state.unread[0];
      if (row.isConnected && row.getBoundingClientRect().top + 8 > bottom) break;
      state.unread.shift();
    }
  }
  const n = state.unread.length;
  el.newMsgs.hidden = n === 0 || isNearBottom();
  el.newMsgs.textContent = n === 1 ? "1 new message ↓" : `${n} new messages ↓`;
  updateTitle();
}

function updateTitle() {
  const n = state.unread.length;
  const base = state.room ? `${state.room} · Chat` : "Chat";
  document.title = n > 0 ? `(${n}) ${base}` : base;
}

el.messages.addEventListener("scroll", markRead, { passive: true });
document.addEventListener("visibilitychange", markRead);
window.addEventListener("focus", markRead);
el.newMsgs.addEventListener("click", () => {
  scrollToBottom();
  markRead();
  el.messages.focus();
});

// ---- online list ----

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
  el.membersToggleCount.textContent = el.memberCount.textContent;
}

// setMemberCount takes the room's member count from ev, when it has one,
// and shows the online list.
function setMemberCount(ev) {
  if (typeof ev.member_count === "number") state.memberCount = ev.member_count;
  renderMembers();
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
  el.messages.append(...mem.rows, ...[...mem.pending.values()].map((p) => p.row));
  el.emptyHint.hidden = mem.rows.length > 0 || mem.pending.size > 0;
  clearTypers();
  el.emptyHint.textContent = "No messages yet.";
  el.messages.removeAttribute("aria-busy");
  scrollToBottom();
  state.unread = [];
  el.title.textContent = `Chat · ${room}`;
  markRead();
}

// ---- connection ----

function wsURL(user, room) {
  return `${state.servers[state.server]}/ws/${encodeURIComponent(user)}?room=${encodeURIComponent(room)}`;
}

// nextServer moves the next connection to the cluster's next node: this
// one is gone (shut down, dropped, unreachable or silent). Resuming there
// with since and epoch loses nothing.
function nextServer() {
  state.server = (state.server + 1) % state.servers.length;
}

// loadPeers learns the cluster's other nodes from this page's server.
async function loadPeers() {
  try {
    const r = await fetch("/peers", { cache: "no-store" });
    const { servers } = await r.json();
    if (Array.isArray(servers)) {
      for (const u of servers) {
        if (typeof u === "string" && /^wss?:\/\/[^/?#]+$/.test(u) && !state.servers.includes(u)) state.servers.push(u);
      }
    }
  } catch {
    // a server without /peers: this page's own is the only one
  }
}

// connectURL is the URL of the next connection to the current room: on a
// first join since=0 (the server replays what it keeps), later the last
// seq shown and, when the server named one, the history's epoch.
function connectURL() {
  const mem = roomMemory(state.room);
  let url = `${wsURL(state.user, state.room)}&since=${mem.lastSeq ?? 0}`;
  if (mem.lastSeq !== null && mem.epoch) url += `&epoch=${encodeURIComponent(mem.epoch)}`;
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
  const ws = new WebSocket(connectURL(), state.token ? [SUBPROTOCOL, `bearer.${state.token}`] : [SUBPROTOCOL]);
  state.ws = ws;
  state.welcomed = false;
  state.ownJoinPending = false;
  state.firstJoin = mem.lastSeq === null;
  state.replayUntil = null;
  state.v1 = false;
  state.openedAt = Date.now();
  let opened = false;
  const joinId = state.joinId;
  const retrying = state.phase === "reconnecting";
  const again = state.retryWhy ? `${state.retryWhy} Reconnecting…` : "Reconnecting…";
  setPhase("connecting", retrying ? again : "Connecting…", retrying ? "" : "Connecting");

  ws.onopen = () => {
    if (state.ws !== ws) return;
    opened = true;
    state.v1 = ws.protocol === SUBPROTOCOL;
    state.openedAt = Date.now();
    state.lastFrameAt = state.openedAt;
    state.lastPingAt = state.openedAt;
    state.pingOutstanding = 0;
    state.ownJoinPending = true;
    state.socketFails = 0;
    state.retryWhy = "";
    setNote("");
    const via = state.server === 0 ? "" : ` via ${new URL(state.servers[state.server]).host}`;
    setPhase("connected", `Connected to ${state.room} as ${state.user}${via}`, `Connected to ${state.room}`);
  };
  ws.onmessage = (e) => {
    if (state.ws !== ws) return;
    state.lastFrameAt = Date.now();
    state.pingOutstanding = 0;
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
    connectionGone();
    if (opened) {
      if (Date.now() - state.openedAt >= STABLE_MS) state.errorCloses = 0;
      onClose(e.code);
      return;
    }
    // Closed before it opened: the browser does not tell why. Ask the
    // server over plain HTTP, then decide.
    setPhase("reconnecting", "Connection failed, checking why…", "");
    checkRefusal(ws.url).then((answer) => {
      if (state.joinId !== joinId || state.ws !== null || state.phase !== "reconnecting") return;
      onRefusal(answer);
    });
  };
}

// onClose decides what follows the close of an open connection.
function onClose(code) {
  const c = CLOSES[code];
  if (code === 1001 || code === 1006) nextServer(); // the server went away
  notice("local", c ? `Connection lost: ${c.why}.` : "Connection lost.");
  if (c && c.token) {
    if (el.token.value.trim() !== state.token) {
      state.token = el.token.value.trim();
      scheduleReconnect();
      return;
    }
    askForToken("Your sign-in token expired. Paste a new one and press Connect.");
    return;
  }
  if (c && c.replaced) {
    stop("Another connection with this name joined the room, and this one was closed. Press Retry to take the name back.", true);
    return;
  }
  if (c && c.error) {
    state.errorCloses++;
    if (state.errorCloses >= ERROR_CLOSE_LIMIT) {
      stop(`The connection keeps being closed by the server (${c.why}), ${state.errorCloses} times in a row. Press Retry to try again.`, true);
      return;
    }
    state.attempt = Math.max(state.attempt, state.errorCloses + 1);
  } else {
    state.errorCloses = 0;
  }
  scheduleReconnect();
}

// checkRefusal asks the server over plain HTTP why an upgrade failed: a
// browser WebSocket cannot see the HTTP status of a refused upgrade. The
// server runs the upgrade's checks on a plain GET of the same URL and
// answers 400, 401, 403 or 503 with a plain-text reason, or 426 when it
// would accept. The answer is {status, reason}, status 0 when the server
// could not be reached.
async function checkRefusal(url) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REFUSAL_CHECK_MS);
  try {
    // Without credentials the browser takes a connection of its own rather
    // than reusing one that served the page (which would reach the page
    // server, not the upgrade's checks).
    // The token goes in the query here: fetch cannot set Sec-WebSocket-Protocol.
    const check = url.replace(/^ws/, "http") + (state.token ? `&token=${encodeURIComponent(state.token)}` : "");
    const r = await fetch(check, { cache: "no-store", credentials: "omit", signal: abort.signal });
    const reason = (await r.text()).trim().slice(0, 300);
    return { status: r.status, reason };
  } catch {
    return { status: 0, reason: "" };
  } finally {
    clearTimeout(timer);
  }
}

// onRefusal turns the server's answer to a failed upgrade into a sentence
// and a retry policy: a refusal that will not change stops the page.
function onRefusal({ status, reason }) {
  const mem = roomMemory(state.room);
  switch (status) {
    case 0:
      nextServer(); // unreachable
      break;
    case 400:
      if (/^bad (since|epoch)\b/.test(reason)) {
        // The server cannot resume from where this page was: join afresh.
        mem.lastSeq = null;
        mem.epoch = null;
        scheduleReconnect();
        return;
      }
      if (!/^bad (room|client_id)\b/.test(reason)) {
        break; // not about the name or room: retry with backoff
      }
      {
        const field = /^bad room\b/.test(reason) ? el.room : el.username;
        stop(`The server refused to connect: ${reason}.`, false, field);
      }
      return;
    case 401:
      askForToken(`This server needs a valid sign-in token (${reason || "unauthorized"}). Paste your token and press Connect.`);
      return;
    case 403:
      stop(`The server does not let you in: ${reason || "forbidden"}.`, false, el.room);
      return;
    case 409:
      // The name is held by a connection the server still thinks alive
      // (this page's own, dropped, until the server notices): retry.
      setNote(`This name is connected in this room already (${reason || "conflict"}); the page keeps trying.`);
      scheduleReconnect();
      return;
    case 503:
      nextServer(); // full or shutting down: another node may take it
      state.retryWhy = "Server busy.";
      setNote(`The server is full or shutting down (${reason || "unavailable"}); the page keeps trying.`);
      scheduleReconnect();
      return;
    case 426:
      // The server would accept this very request, yet the WebSocket fails.
      state.socketFails++;
      if (state.socketFails >= SOCKET_FAIL_LIMIT) {
        stop("The server accepts this name and room, but the WebSocket connection itself fails: " +
          "a proxy may be blocking WebSockets, or the server does not accept this page's origin. Press Retry to try again.", true);
        return;
      }
      break;
  }
  scheduleReconnect();
}

// stop ends the attempts to connect and says why, in the join form (focus
// goes to field when given); with retry the status offers a Retry button.
function stop(message, retry, field) {
  closeSocket();
  setNote("");
  setPhase("disconnected", "Disconnected", "Disconnected", retry ? "Retry" : "");
  el.joinError.textContent = message;
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

function askForToken(message) {
  stop(message, false);
  el.tokenField.hidden = false;
  el.token.setAttribute("aria-invalid", "true");
  el.token.focus();
}

function handleEvent(ev) {
  // Answers to commands and typing are not part of a replay; anything else
  // but a message ends one.
  if (!["message", "ack", "pong", "typing"].includes(ev.type)) endReplay();
  switch (ev.type) {
    case "welcome":
      onWelcome(ev);
      break;
    case "ack":
      if (ev.room === state.room) onAck(ev);
      break;
    case "pong":
      break; // its arrival is what the heartbeat needs
    case "typing":
      if (typeof ev.client_id === "string" && ev.client_id !== state.user) {
        state.typers.set(ev.client_id, Date.now() + TYPING_SHOW_MS);
        renderTypers();
      }
      break;
    case "message": {
      const mem = roomMemory(state.room);
      if (state.typers.delete(ev.client_id)) renderTypers();
      confirmedBySeq(mem, ev.seq);
      let replayed = false;
      if (typeof ev.seq === "number") {
        if (mem.lastSeq !== null && ev.seq <= mem.lastSeq) return; // already shown
        mem.lastSeq = ev.seq;
        replayed = state.replayUntil !== null;
        if (replayed && ev.seq >= state.replayUntil) endReplay();
      }
      // History shown on a first join is not "new"; what was missed while
      // away is.
      renderMessage(ev, !(replayed && state.firstJoin));
      break;
    }
    case "connection": {
      const own = ev.client_id === state.user && state.ownJoinPending;
      if (own) {
        state.ownJoinPending = false;
        if (!state.welcomed) addMember(ev.client_id, 1); // else already counted from welcome
      } else {
        addMember(ev.client_id, 1);
      }
      setMemberCount(ev);
      const mem = roomMemory(state.room);
      if (own && mem.joined) break; // "you joined" only on the first join of a room
      if (own) mem.joined = true;
      notice("join", ev.message || `${ev.client_id} joined the chat`, ev.timestamp);
      break;
    }
    case "disconnection":
      addMember(ev.client_id, -1);
      setMemberCount(ev);
      notice("leave", ev.message || `${ev.client_id} left the chat`, ev.timestamp);
      break;
    case "presence":
      setMemberCount(ev);
      break;
    case "error":
      if (!failedByServer(ev)) notice("error", ev.message || "The server reported an error.", ev.timestamp);
      break;
  }
}

function onWelcome(ev) {
  state.attempt = 0;
  state.welcomed = true;
  state.retryWhy = "";
  setNote("");
  if (typeof ev.max_message_bytes === "number" && ev.max_message_bytes > 0) {
    state.maxBytes = ev.max_message_bytes;
  }
  const mem = roomMemory(state.room);
  const seq = typeof ev.seq === "number" ? ev.seq : null;
  const epoch = typeof ev.epoch === "string" && ev.epoch !== "" ? ev.epoch : null;
  if (state.firstJoin) {
    // Asked with since=0: the kept messages follow. A gap here only means
    // that older ones are not kept.
    mem.lastSeq = 0;
    if (ev.gap) notice("history", "Older messages are not shown.");
  } else {
    // A resume. Another epoch, or a seq below ours (a restarted server
    // that names no epoch), is another history: what it replays is new.
    const reset = (epoch !== null && mem.epoch !== null && epoch !== mem.epoch) || (seq !== null && seq < mem.lastSeq);
    if (reset) {
      mem.lastSeq = 0;
      mem.group = null;
      notice("gap", "The room's history was reset on the server: messages sent while you were away could not be recovered.", ev.timestamp);
    } else if (ev.gap) {
      notice("gap", "Some messages could not be recovered while you were away.", ev.timestamp);
    }
  }
  mem.epoch = epoch;
  if (seq !== null && seq > mem.lastSeq) {
    // The replay up to seq follows; a screen reader hears it as one batch.
    state.replayUntil = seq;
    el.messages.setAttribute("aria-busy", "true");
  }
  state.members.clear();
  for (const name of Array.isArray(ev.members) ? ev.members : []) addMember(String(name), 1);
  if (!state.members.has(state.user)) addMember(state.user, 1);
  state.memberCount = typeof ev.member_count === "number" ? ev.member_count : 0;
  renderMembers();
  updateCounter();
  resendPending(mem);
}

function endReplay() {
  if (state.replayUntil === null) return;
  state.replayUntil = null;
  el.messages.removeAttribute("aria-busy");
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
  return state.retryWhy ? `${state.retryWhy} Reconnecting in ${s}s` : `Reconnecting in ${s}s`;
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
  state.joinId++;
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, "bye");
  connectionGone();
}

// connectionGone clears what only a live connection shows: a replay under
// way, the online list and typing indicators.
function connectionGone() {
  endReplay();
  state.members.clear();
  state.memberCount = 0;
  renderMembers();
  clearTypers();
}

// ---- pending messages ----
//
// A message is sent with an id and shown last in the log, "Sending…", until
// the server's ack with that id gives its seq; the message event with that
// seq then takes its place in the log. On every new connection the pending
// ones are sent again with their ids: the server publishes an id once and
// acks a resend with the first seq, so nothing is doubled. One pending for
// PENDING_FAIL_MS of connected time, or sent on PENDING_MAX_SENDS
// connections, is marked failed with a Retry button.

function sendMessage(text) {
  const mem = roomMemory(state.room);
  const p = { id: `${TAB_ID}.${++state.msgSeq}`, text, row: null, sentOn: null, sends: 0, waited: 0, seq: null, failed: false };
  p.row = pendingRow(p);
  mem.pending.set(p.id, p);
  el.messages.append(p.row);
  el.emptyHint.hidden = true;
  scrollToBottom();
  sendPending(p);
}

// sendPending sends p on the current connection, unless it was already.
function sendPending(p) {
  const ws = state.ws;
  if (!ws || state.phase !== "connected" || p.sentOn === ws || p.failed) return;
  p.sentOn = ws;
  p.sends++;
  ws.send(JSON.stringify({ type: "message", text: p.text, id: p.id }));
}

function resendPending(mem) {
  for (const p of mem.pending.values()) {
    if (p.seq !== null || p.failed) continue;
    if (p.sends >= PENDING_MAX_SENDS) failPending(p);
    else sendPending(p);
  }
}

function pendingRow(p) {
  const row = document.createElement("article");
  row.className = "pending-msg";
  // The log is a live region: the message is announced once, when it
  // arrives from the server, not also while it is pending.
  row.setAttribute("aria-live", "off");
  const meta = senderHeader(state.user, true);
  const st = document.createElement("span");
  st.className = "pending-state";
  st.textContent = "Sending…";
  meta.append(" ", st);
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = p.text;
  row.append(meta, body);
  return row;
}

function setPendingState(p, kind, text) {
  p.row.dataset.state = kind;
  p.row.querySelector(".pending-state").textContent = text;
}

function failPending(p) {
  p.failed = true;
  setPendingState(p, "failed", "Not sent");
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "link-btn retry-msg";
  retry.textContent = "Retry";
  retry.setAttribute("aria-label", `Retry sending: ${[...p.text].slice(0, 40).join("")}`);
  retry.addEventListener("click", () => {
    retry.remove();
    p.failed = false;
    p.waited = 0;
    p.sends = 0;
    p.sentOn = null;
    setPendingState(p, "", "Sending…");
    el.sendError.textContent = "";
    sendPending(p);
  });
  p.row.append(retry);
  el.sendError.textContent = "A message could not be sent: press Retry next to it.";
}

// failedByServer marks the pending message an "unavailable" error names
// (the server could not order it: in a cluster, NATS is away) as not sent,
// with its Retry, at once rather than after PENDING_FAIL_MS; it reports
// whether the error was about such a message.
function failedByServer(ev) {
  if (ev.code !== "unavailable" || typeof ev.id !== "string") return false;
  const p = roomMemory(state.room).pending.get(ev.id);
  if (!p) return false;
  if (!p.failed) failPending(p);
  return true;
}

// onAck confirms a pending message. Its message event already shown (a
// resend of a message the replay brought), the pending row goes; else it
// waits, sent, for its message event.
function onAck(ev) {
  const mem = roomMemory(state.room);
  const p = mem.pending.get(ev.id);
  if (!p || typeof ev.seq !== "number") return;
  if (p.failed) p.row.querySelector(".retry-msg")?.remove();
  p.failed = false;
  if (mem.rows.some((r) => r.dataset && r.dataset.seq === String(ev.seq))) {
    dropPending(mem, p);
    return;
  }
  p.seq = ev.seq;
  setPendingState(p, "sent", "Sent");
}

// confirmedBySeq drops the pending message whose ack gave seq: its message
// event arrived.
function confirmedBySeq(mem, seq) {
  if (typeof seq !== "number") return;
  for (const p of mem.pending.values()) {
    if (p.seq === seq) dropPending(mem, p);
  }
}

function dropPending(mem, p) {
  mem.pending.delete(p.id);
  p.row.remove();
  if (![...mem.pending.values()].some((q) => q.failed) && el.sendError.dataset.kind !== "size") el.sendError.textContent = "";
}

// ---- typing ----

function renderTypers() {
  const names = [...state.typers.keys()].sort((a, b) => a.localeCompare(b));
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  el.typing.textContent = text;
  el.typing.hidden = text === "";
}

function clearTypers() {
  state.typers.clear();
  renderTypers();
}

// sendTyping tells the room this page's user is typing, at most once per
// TYPING_SEND_MS: typing within that time of the last command is told when
// the time is up, if the draft is still there (a short burst of keys right
// after sending a message is announced too).
function sendTyping() {
  const now = Date.now();
  if (!state.v1 || !state.ws || state.phase !== "connected") return;
  const wait = state.typingSentAt + TYPING_SEND_MS - now;
  if (wait > 0) {
    if (!state.typingTimer) {
      state.typingTimer = setTimeout(() => {
        state.typingTimer = 0;
        if (el.input.value.trim() !== "") sendTyping();
      }, wait);
    }
    return;
  }
  state.typingSentAt = now;
  state.ws.send(JSON.stringify({ type: "typing" }));
}

// ---- heartbeat ----

// tick runs every TICK_MS: it pings a connected server every PING_MS and
// gives it up when it stays silent (no frame for WATCHDOG_MS, a ping
// unanswered for PING_MS); abandons an upgrade unanswered for
// CONNECT_TIMEOUT_MS; ages pending messages; expires typing indicators.
function tick() {
  const now = Date.now();
  const elapsed = state.lastTick ? Math.min(now - state.lastTick, 5 * TICK_MS) : 0;
  state.lastTick = now;
  const ws = state.ws;
  if (ws && state.phase === "connected" && state.v1) {
    if (state.pingOutstanding && now - state.pingOutstanding >= PING_MS && now - state.lastFrameAt >= WATCHDOG_MS) {
      serverSilent();
      return;
    }
    if (now - state.lastPingAt >= PING_MS) {
      state.lastPingAt = now;
      if (!state.pingOutstanding) state.pingOutstanding = now;
      ws.send(JSON.stringify({ type: "ping", id: String(now) }));
    }
  } else if (ws && state.phase === "connecting" && now - state.openedAt >= CONNECT_TIMEOUT_MS) {
    ws.close(); // its close explains itself as any failed upgrade does
  }
  if (state.phase === "connected" && state.room) {
    for (const p of roomMemory(state.room).pending.values()) {
      if (p.failed || p.seq !== null) continue;
      p.waited += elapsed;
      if (p.waited >= PENDING_FAIL_MS) failPending(p);
    }
  }
  let expired = false;
  for (const [name, until] of state.typers) {
    if (until <= now) expired = state.typers.delete(name);
  }
  if (expired) renderTypers();
}
setInterval(tick, TICK_MS);

// serverSilent gives up a connection whose server stopped answering, says
// so, and reconnects with backoff.
function serverSilent() {
  const ws = state.ws;
  state.ws = null;
  ws.close();
  connectionGone();
  notice("local", "Connection lost: the server is not responding.");
  nextServer();
  state.retryWhy = "Connection lost (server not responding).";
  setNote("The server stopped responding; the page keeps trying to reconnect.");
  scheduleReconnect();
}

function join(user, room) {
  closeSocket();
  if (user !== state.user) {
    // Pending messages were written by the former name: they are not sent as this one.
    for (const mem of rooms.values()) {
      for (const p of mem.pending.values()) p.row.remove();
      mem.pending.clear();
    }
  }
  state.user = user;
  state.room = room;
  state.token = el.token.value.trim();
  state.attempt = 0;
  state.socketFails = 0;
  state.errorCloses = 0;
  state.retryWhy = "";
  setNote("");
  el.joinError.textContent = "";
  el.nameHint.textContent = "";
  el.token.setAttribute("aria-invalid", "false");
  showRoom(room);
  const url = new URL(location.href);
  url.searchParams.set("room", room);
  history.replaceState(null, "", url);
  rememberName(user);
  open();
}

function leave() {
  closeSocket();
  if (state.room) notice("local", `You left ${state.room}.`);
  setNote("");
  setPhase("disconnected", "Disconnected", "Disconnected");
  forgetTab();
  el.username.focus();
}

// ---- a distinct name per tab ----
//
// Open tabs of this page register the name they joined with in
// localStorage (renewed while joined, removed when the tab goes away). A new
// tab suggests the last name used, or, when a live tab holds it, that name
// with a suffix ("ana-2"), and says so. A reloaded tab keeps its own name
// (sessionStorage).

const TABS_KEY = "chat.tabs";
const TAB_ID = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
let tabBeat = 0;

function storage(kind) {
  try {
    return kind === "session" ? window.sessionStorage : window.localStorage;
  } catch {
    return null; // storage may be unavailable (private mode): names are just not remembered
  }
}

function readTabs() {
  try {
    const v = JSON.parse(storage("local")?.getItem(TABS_KEY) || "{}");
    return v && typeof v === "object" ? v : {};
  } catch {
    return {};
  }
}

function writeTab(name) {
  const tabs = readTabs();
  const now = Date.now();
  for (const [id, t] of Object.entries(tabs)) {
    if (!t || typeof t.at !== "number" || now - t.at > TAB_FRESH_MS) delete tabs[id];
  }
  if (name) tabs[TAB_ID] = { name, at: now };
  else delete tabs[TAB_ID];
  try {
    storage("local")?.setItem(TABS_KEY, JSON.stringify(tabs));
  } catch {
    // full or unavailable storage: other tabs just cannot see this name
  }
}

function namesInOtherTabs() {
  const now = Date.now();
  const names = new Set();
  for (const [id, t] of Object.entries(readTabs())) {
    if (id !== TAB_ID && t && typeof t.name === "string" && typeof t.at === "number" && now - t.at <= TAB_FRESH_MS) names.add(t.name);
  }
  return names;
}

function rememberName(user) {
  try {
    storage("local")?.setItem("chat.username", user);
    storage("session")?.setItem("chat.username", user);
  } catch {
    // not remembered
  }
  writeTab(user);
  clearInterval(tabBeat);
  tabBeat = setInterval(() => writeTab(state.user), TAB_BEAT_MS);
}

function forgetTab() {
  clearInterval(tabBeat);
  tabBeat = 0;
  writeTab(null);
}

// suggestName returns the name to prefill in this tab and, when another
// tab holds the remembered one, that name.
function suggestName() {
  let saved = "";
  try {
    saved = storage("session")?.getItem("chat.username") || storage("local")?.getItem("chat.username") || "";
  } catch {
    saved = "";
  }
  if (!saved) return { name: "", taken: "" };
  const used = namesInOtherTabs();
  if (!used.has(saved)) return { name: saved, taken: "" };
  for (let n = 2; ; n++) {
    const suffix = `-${n}`;
    const name = [...saved].slice(0, NAME_MAX - suffix.length).join("") + suffix;
    if (!used.has(name)) return { name, taken: saved };
  }
}

window.addEventListener("pagehide", () => writeTab(null));
window.addEventListener("pageshow", (e) => {
  if (e.persisted && state.phase !== "disconnected") writeTab(state.user);
});

// ---- user input ----

el.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const user = el.username.value.trim();
  const room = el.room.value.trim() || DEFAULT_ROOM;
  const problem = nameProblem(user, "client_id", "username") || nameProblem(room, "room", "room name");
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
  setFolded(el.joinForm, el.roomToggle, false);
  el.input.focus();
});

el.leave.addEventListener("click", leave);
el.retry.addEventListener("click", () => {
  if (state.phase === "reconnecting") open();
  else if (state.phase === "disconnected" && state.room) el.joinForm.requestSubmit();
});
el.room.addEventListener("input", () => {
  el.room.setAttribute("aria-invalid", "false");
  updateConnectButton();
});
el.token.addEventListener("input", () => {
  el.token.setAttribute("aria-invalid", "false");
  updateConnectButton();
});
el.username.addEventListener("input", () => {
  el.joinError.textContent = "";
  el.nameHint.textContent = "";
  el.username.setAttribute("aria-invalid", "false");
});

el.input.addEventListener("input", () => {
  updateCounter();
  fitInput();
  if (el.input.value.trim() !== "") sendTyping();
});
// Enter sends; Shift+Enter (and Enter while an input method composes)
// goes into the text.
const sendsOnEnter = (e) => e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229;
el.input.addEventListener("keydown", (e) => {
  if (!sendsOnEnter(e)) return;
  e.preventDefault();
  el.sendForm.requestSubmit();
});
// A keypress follows a cancelled keydown only from synthetic input (such as
// DevTools' key events); it must not put the line break in after all.
el.input.addEventListener("keypress", (e) => {
  if (sendsOnEnter(e)) e.preventDefault();
});
el.sendForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = el.input.value;
  if (text.trim() === "" || state.phase !== "connected" || !state.ws) return;
  const bytes = encoder.encode(text).length;
  if (bytes > state.maxBytes) {
    updateCounter();
    return;
  }
  if (state.v1) sendMessage(text);
  else state.ws.send(text);
  el.input.value = "";
  el.sendError.textContent = "";
  updateCounter();
  fitInput();
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
  // A token in the page URL (#token=... or ?token=...) fills the token
  // field, and leaves the address bar and the history at once.
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get("token") || params.get("token");
  if (token) {
    el.token.value = token;
    const clean = new URL(location.href);
    clean.searchParams.delete("token");
    clean.hash = "";
    history.replaceState(null, "", clean);
  }
  const { name, taken } = suggestName();
  el.username.value = name;
  if (taken) el.nameHint.textContent = `“${taken}” is in use in another tab, so this tab suggests “${name}”.`;
  setPhase("disconnected", "Disconnected", "");
  renderMembers();
  updateTitle();
  (el.username.value && !taken ? el.connect : el.username).focus();
  loadPeers();
}

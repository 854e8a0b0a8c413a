// Chatroom browser client: one scope, talks to the /chat Socket.IO namespace.
//
// The server is the only authority on who is speaking and who is online: this
// file renders what it is told. User text only ever reaches the page through
// textContent / createTextNode, never as markup.
//
// Nothing is lost: every connect starts with a `history` batch (the latest
// messages, or, on a reconnect, everything after the last id shown), every
// message is shown once (by id) and in id order, and every message I write
// carries a client id (cid) and is resent until the server acknowledges it.
(() => {
  "use strict";

  const EVERYONE = "all";
  const ACK_TIMEOUT_MS = 10000;
  const RESEND_DELAY_MS = 1000;
  const HISTORY_PAGE = 50;
  const CATCH_UP_PAGE = 100;
  const UNAVAILABLE_RETRY_MS = 3000;
  const UNAVAILABLE_RETRY_MAX_MS = 30000;
  const TYPING_THROTTLE_MS = 1000;
  const TYPING_SHOW_MS = 3000;
  const NEAR_BOTTOM_PX = 80;
  const KICK_RETRY_DELAY_MS = 1500;
  const KICK_RETRY_EVERY_MS = 60000;
  const DEFAULT_LOGIN_PATH = "/auth/login";
  const QUEUED_LABEL = "arrived while you were away";
  // Fallback sentences, used only when the server's answer carries no message.
  const ERROR_TEXT = {
    bad_request: "The server could not understand that message.",
    empty: "Empty messages are not sent.",
    too_long: "That message is too long.",
    no_such_user: "There is no such user.",
    not_online: "That user is not online.",
    rate_limited: "You are sending too fast; wait a moment.",
    unavailable: "The message store is unavailable; nothing was sent.",
    history: "Older messages could not be loaded; try again.",
  };
  const STATES = {
    connecting: "connecting…",
    online: "online",
    reconnecting: "reconnecting…",
    offline: "offline",
  };

  // DOM lookups, once.
  const root = document.getElementById("chat");
  const connState = document.getElementById("conn-state");
  const messages = document.getElementById("messages");
  const loadOlderButton = document.getElementById("load-older");
  const userList = document.getElementById("users");
  const userCount = document.getElementById("user-count");
  const sayTo = document.getElementById("say-to");
  const typingLine = document.getElementById("typing");
  const composer = document.getElementById("composer");
  const input = document.getElementById("input");

  const me = root.dataset.username;
  const loginPath = root.dataset.loginUrl || DEFAULT_LOGIN_PATH;
  // Unsent messages survive a reload of this tab (sessionStorage is per tab).
  const outboxKey = `chat.outbox.${me}`;

  let target = EVERYONE;
  let lastTypingSent = 0;
  let lastKickRetry = 0;
  let unavailableDelay = UNAVAILABLE_RETRY_MS;
  const typingTimers = new Map(); // username -> timeout id

  // What is on screen. `lastId` is the id up to which every message I may see
  // is shown: a reconnect asks for everything after it. While a cut-short
  // catch-up is being paged in (`catchingUp`), live messages are shown but do
  // not move it, so a drop in the middle cannot leave a gap behind.
  const lines = new Map(); // message id (string) -> its line on screen
  let lastId = null;
  let maxShownId = null;
  let catchingUp = false;
  let sinceRequested = null; // the `since` of the connection being made
  let connection = 0; // counts history batches, one per connection
  let restored = false;

  // My messages not yet acknowledged, in the order written; sent one at a time
  // so they are stored in that order.
  const outbox = [];
  let inFlight = null;

  const socket = io("/chat", {
    // A function, so every reconnect asks for what it missed.
    auth: (send) => {
      sinceRequested = lastId;
      send(lastId === null ? {} : { since: lastId });
    },
  });

  // Time

  function pad2(n) {
    return String(n).padStart(2, "0");
  }

  /** HH:MM:SS in local time from the server's ISO timestamp (now if absent). */
  function formatTime(iso) {
    // Trim microseconds to milliseconds: not every engine parses six digits.
    let date = iso ? new Date(String(iso).replace(/(\.\d{3})\d+/, "$1")) : new Date();
    if (Number.isNaN(date.getTime())) date = new Date();
    return `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
  }

  function timeElement(iso) {
    const el = document.createElement("time");
    if (iso) el.dateTime = iso;
    el.textContent = formatTime(iso);
    return el;
  }

  // Building blocks

  function span(className, text) {
    const el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function isNearBottom() {
    return messages.scrollHeight - messages.scrollTop - messages.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    messages.scrollTop = messages.scrollHeight;
  }

  /** Appends a line to the pane, following it only if the reader was at the bottom. */
  function appendLine(el, { forceScroll = false } = {}) {
    const follow = forceScroll || isNearBottom();
    messages.appendChild(el);
    if (follow) scrollToBottom();
  }

  /**
   * A fresh client id for a message: the server recognises a resend by it.
   *
   * A UUID version 7 (RFC 9562): the time in milliseconds, then random bits. Each
   * sender's ids then grow with time, so the store's unique (sender, cid) index
   * takes each new one at the end of that sender's entries rather than anywhere
   * among them (random ids cost SQLite about a quarter more per message stored:
   * python -m bench.sqlite_indexes now now-v7).
   */
  function newCid() {
    const bytes = new Uint8Array(16);
    const cryptoApi = window.crypto;
    if (cryptoApi && typeof cryptoApi.getRandomValues === "function") cryptoApi.getRandomValues(bytes);
    else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    let ms = Date.now();
    for (let i = 5; i >= 0; i--) {
      bytes[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // the RFC's variant
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // System notices

  /** "System (12:01:02): Alice came online" */
  function addNotice(text, at) {
    const line = document.createElement("div");
    line.className = "msg system";
    line.append(span("who", "System"), " (", timeElement(at), "): ", span("text", text));
    appendLine(line);
  }

  // Chat messages

  /** Header "WHO (time) to WHOM:" plus the message text on its own line. */
  function buildMessage({ who, whom, msg, at, isPrivate, classes = [] }) {
    const line = document.createElement("div");
    line.className = ["msg", ...(isPrivate ? ["private"] : []), ...classes].join(" ");

    const meta = document.createElement("div");
    meta.className = "meta";
    meta.append(span("who", who), " (", timeElement(at), ") to ", span("whom", whom), ":");

    const text = document.createElement("div");
    text.className = "text";
    text.textContent = msg;

    line.append(meta, text);
    return line;
  }

  function setMessageTime(line, at) {
    const old = line.querySelector(".meta time");
    if (old && at) old.replaceWith(timeElement(at));
  }

  function validId(value) {
    return Number.isSafeInteger(value) && value >= 0;
  }

  /** Shown messages with an id, in pane order (which is id order). */
  function idLines() {
    return messages.querySelectorAll(".msg[data-id]");
  }

  /**
   * Puts a line with message id `id` where id order says, among the lines
   * already shown. Lines without an id (notices, my pending messages) stay put.
   */
  function placeById(line, id) {
    if (!line.isConnected && (maxShownId === null || id > maxShownId)) {
      messages.appendChild(line); // the usual case: newer than anything shown
      return;
    }
    const next = [...idLines()].find((el) => el !== line && Number(el.dataset.id) > id);
    if (next) {
      if (line.nextElementSibling !== next) messages.insertBefore(line, next);
    } else if (!line.isConnected) {
      messages.appendChild(line);
    } else {
      // Nothing newer: it belongs after the newest shown message.
      const shown = [...idLines()].filter((el) => el !== line);
      const newest = shown[shown.length - 1];
      if (newest && newest.compareDocumentPosition(line) & Node.DOCUMENT_POSITION_PRECEDING) {
        newest.after(line);
      }
    }
  }

  /** Records a message id as shown; advances `lastId` unless a catch-up is still paging. */
  function noteShown(id, line) {
    lines.set(String(id), line);
    if (maxShownId === null || id > maxShownId) maxShownId = id;
    if (!catchingUp && (lastId === null || id > lastId)) lastId = id;
  }

  /**
   * Renders a message from the server (history or live), unless it is already
   * on screen. Returns true when it was drawn. With `adopt`, a message of mine
   * that is still pending here takes over that pending line rather than
   * drawing a second one.
   */
  function showMessage(data, { adopt = true } = {}) {
    if (!data || !validId(data.id) || lines.has(String(data.id))) return false;
    const mine = data.from === me;
    if (mine && adopt && adoptPending(data)) return true;
    const isPrivate = data.to !== EVERYONE;
    const line = buildMessage({
      who: mine ? "You" : data.from,
      whom: !isPrivate ? "everyone" : data.to === me ? "you" : data.to,
      msg: data.msg,
      at: data.at,
      isPrivate,
      classes: mine ? ["mine", "sent"] : [],
    });
    line.dataset.id = String(data.id);
    if (data.queued === true && isPrivate && data.to === me && !mine) {
      line.querySelector(".meta").append(" ", span("queued", QUEUED_LABEL));
    }
    placeById(line, data.id);
    noteShown(data.id, line);
    return true;
  }

  /**
   * My message came back before its ack (a catch-up after the ack was lost
   * with the connection, or my other tab said the same): the pending line
   * becomes it. If it was in fact another message, settleAck puts that right,
   * the two being identical on screen.
   */
  function adoptPending(data) {
    const entry = outbox.find(
      (e) => e.emitted && e.adoptedId === undefined && e.to === data.to && e.msg === data.msg,
    );
    if (!entry) return false;
    entry.adoptedId = data.id;
    markLineSent(entry.line, data.id, data.at);
    return true;
  }

  /** A line of mine is on the server as message `id`. */
  function markLineSent(line, id, at) {
    line.classList.remove("pending", "failed");
    line.classList.add("sent");
    line.dataset.id = String(id);
    setMessageTime(line, at);
    placeById(line, id);
    noteShown(id, line);
  }

  /** A live `say` (someone else, or me in another tab). */
  function showIncoming(data) {
    const follow = isNearBottom();
    if (!showMessage(data)) return;
    stopTyping(data.from);
    if (follow) scrollToBottom();
  }

  /** Renders a batch of history, keeping the reader at the bottom if they were there. */
  function showBatch(batch) {
    const follow = isNearBottom();
    batch.forEach(showMessage);
    if (follow) scrollToBottom();
  }

  function batchOf(data) {
    return data && Array.isArray(data.messages) ? data.messages : [];
  }

  // History

  function setHasOlder(more) {
    loadOlderButton.hidden = !more;
    loadOlderButton.disabled = false;
  }

  /** A connection's first event: what I missed (or the latest page), oldest first. */
  function receiveHistory(data) {
    connection += 1;
    catchingUp = false;
    const batch = batchOf(data);
    const caughtUpFrom = sinceRequested;
    const restoring = !restored;
    if (restoring) {
      // Before the batch, so a restored message already stored is adopted, not drawn twice.
      restored = true;
      restoreOutbox();
    }
    showBatch(batch);
    if (restoring) {
      // The rest are still unsent: pending, below the history.
      outbox.filter((e) => !e.line.isConnected).forEach((e) => appendLine(e.line, { forceScroll: true }));
    }
    if (caughtUpFrom === null) {
      // The latest page: `more` says older messages exist.
      setHasOlder(Boolean(data && data.more));
    } else if (data && data.more && batch.length > 0) {
      // Cut short: page forward from the end of the batch.
      catchingUp = true;
      catchUp(batch[batch.length - 1].id, connection);
    }
    pump();
  }

  /** Pages forward after a cut-short catch-up until the newest message is shown. */
  function catchUp(after, forConnection) {
    socket
      .timeout(ACK_TIMEOUT_MS)
      .emit("history", { after, limit: CATCH_UP_PAGE }, (err, ack) => {
        if (forConnection !== connection) return; // a reconnect started over
        if (err || !ack || !ack.ok) {
          setTimeout(() => {
            if (forConnection === connection && socket.connected) catchUp(after, forConnection);
          }, RESEND_DELAY_MS);
          return;
        }
        const batch = batchOf(ack);
        showBatch(batch);
        batch.forEach((m) => {
          if (validId(m.id) && (lastId === null || m.id > lastId)) lastId = m.id;
        });
        if (ack.more && batch.length > 0) {
          catchUp(batch[batch.length - 1].id, forConnection);
        } else {
          catchingUp = false;
          if (maxShownId !== null && (lastId === null || maxShownId > lastId)) lastId = maxShownId;
        }
      });
  }

  /** The "load older messages" button: one page before the oldest shown, scroll position kept. */
  function loadOlder() {
    const oldest = idLines()[0];
    if (!oldest) {
      setHasOlder(false);
      return;
    }
    loadOlderButton.disabled = true;
    socket
      .timeout(ACK_TIMEOUT_MS)
      .emit("history", { before: Number(oldest.dataset.id), limit: HISTORY_PAGE }, (err, ack) => {
        if (err || !ack || !ack.ok) {
          loadOlderButton.disabled = false;
          addNotice((ack && ack.message) || ERROR_TEXT.history);
          return;
        }
        const fromBottom = messages.scrollHeight - messages.scrollTop;
        // Old messages: never mistaken for one of mine still pending.
        batchOf(ack).forEach((m) => showMessage(m, { adopt: false }));
        setHasOlder(Boolean(ack.more));
        messages.scrollTop = messages.scrollHeight - fromBottom;
      });
  }

  // Sending

  function saveOutbox() {
    try {
      const unsent = outbox.map(({ cid, to, msg }) => ({ cid, to, msg }));
      if (unsent.length) sessionStorage.setItem(outboxKey, JSON.stringify(unsent));
      else sessionStorage.removeItem(outboxKey);
    } catch {
      // Storage full or disabled: the messages are still resent while the page is open.
    }
  }

  /**
   * Messages still unacknowledged when this tab was reloaded: shown pending and
   * queued to be sent again (on connect, after the history that may hold them).
   */
  function restoreOutbox() {
    let saved = [];
    try {
      saved = JSON.parse(sessionStorage.getItem(outboxKey) || "[]");
    } catch {
      saved = [];
    }
    if (!Array.isArray(saved)) return;
    for (const item of saved) {
      if (item && typeof item.cid === "string" && typeof item.to === "string" && typeof item.msg === "string") {
        // Sent before the reload, perhaps: the history may hold it.
        outbox.push(draft(item.to, item.msg, item.cid, { attach: false, emitted: true }));
      }
    }
  }

  function pendingLine(to, msg, { attach = true } = {}) {
    const line = buildMessage({
      who: "You",
      whom: to === EVERYONE ? "everyone" : to,
      msg,
      at: null,
      isPrivate: to !== EVERYONE,
      classes: ["mine", "pending"],
    });
    if (attach) appendLine(line, { forceScroll: true });
    return line;
  }

  /**
   * My message on screen at once, pending, before the server has it. An entry
   * of the outbox: `emitted` once it may have reached the server; `adoptedId`
   * when a message from the server took over its line before the ack came.
   */
  function draft(to, msg, cid, { attach = true, emitted = false } = {}) {
    return { cid, to, msg, line: pendingLine(to, msg, { attach }), emitted, adoptedId: undefined };
  }

  function enqueue(entry) {
    outbox.push(entry);
    saveOutbox();
    pump();
  }

  /** Sends the oldest unacknowledged message, if connected and none is awaiting its ack. */
  function pump() {
    if (inFlight || !socket.connected || outbox.length === 0) return;
    const entry = outbox[0];
    inFlight = entry;
    entry.emitted = true;
    const payload = { to: entry.to, msg: entry.msg, cid: entry.cid };
    socket.timeout(ACK_TIMEOUT_MS).emit("say", payload, (err, ack) => {
      inFlight = null;
      if (err) {
        // No answer (a timeout, or the socket dropped): send it again with the
        // same cid, on reconnect or shortly; the server never stores it twice.
        setTimeout(pump, RESEND_DELAY_MS);
        return;
      }
      outbox.shift();
      saveOutbox();
      if (ack && ack.ok) {
        settleAck(entry, ack);
      } else {
        const code = ack && ack.error;
        markFailed(entry, (ack && ack.message) || ERROR_TEXT[code] || "The message was not sent.");
      }
      pump();
    });
  }

  function sendMessage(to, msg) {
    enqueue(draft(to, msg, newCid()));
  }

  /** The server has my message (a duplicate ack too): it is sent, with its id and time. */
  function settleAck(entry, ack) {
    const { line } = entry;
    if (!validId(ack.id)) {
      line.classList.remove("pending", "failed");
      line.classList.add("sent");
      return;
    }
    if (entry.adoptedId === ack.id) return; // drawn when the catch-up brought it
    const shown = lines.has(String(ack.id));
    if (entry.adoptedId !== undefined) {
      // The adopted line is another message of mine with the same text: it stays, and this one is drawn too.
      if (!shown) markLineSent(pendingLine(entry.to, entry.msg), ack.id, ack.at);
      return;
    }
    if (shown) {
      line.remove(); // already on screen, in its place: one is enough
      return;
    }
    markLineSent(line, ack.id, ack.at);
  }

  /** The server refused it: say why, and offer to send it again (same cid). */
  function markFailed(entry, reason) {
    if (entry.adoptedId !== undefined) {
      // The adopted line shows another message of mine that does exist: this one gets its own.
      entry.line = pendingLine(entry.to, entry.msg);
      entry.adoptedId = undefined;
    }
    const { line } = entry;
    line.classList.remove("pending", "sent");
    line.classList.add("failed");
    const note = document.createElement("div");
    note.className = "error";
    note.setAttribute("role", "alert");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = "retry";
    retry.addEventListener("click", () => {
      note.remove();
      line.classList.remove("failed");
      line.classList.add("pending");
      enqueue(entry);
    });
    note.append(span("reason", reason), " ", retry);
    const follow = isNearBottom();
    line.appendChild(note);
    if (follow) scrollToBottom();
  }

  // Online list

  function userEntry(name) {
    const item = document.createElement("li");
    item.className = "user";
    item.dataset.user = name;
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    if (name === me) {
      item.classList.add("me");
      button.append(" ", span("you", "(you)"));
    }
    item.appendChild(button);
    return item;
  }

  function userEntries() {
    return [...userList.querySelectorAll(".user")].filter((el) => el.dataset.user !== EVERYONE);
  }

  function findUser(name) {
    return userEntries().find((el) => el.dataset.user === name) || null;
  }

  /** Inserts in code-point order, the order of the server's sorted snapshot. */
  function addUser(name) {
    if (findUser(name)) return;
    const next = userEntries().find((el) => el.dataset.user > name);
    userList.insertBefore(userEntry(name), next || null);
    highlightTarget();
  }

  function removeUser(name) {
    const entry = findUser(name);
    if (entry) entry.remove();
    highlightTarget();
  }

  function replaceUsers(names) {
    userEntries().forEach((el) => el.remove());
    names.forEach((name) => userList.appendChild(userEntry(name)));
    highlightTarget();
  }

  function setCount(count) {
    if (typeof count === "number") userCount.textContent = String(count);
  }

  // Speaking to

  function setTarget(name) {
    target = !name || name === me ? EVERYONE : name;
    highlightTarget();
    input.focus();
  }

  function highlightTarget() {
    for (const el of userList.querySelectorAll(".user")) {
      const selected = el.dataset.user === target;
      el.classList.toggle("selected", selected);
      const button = el.querySelector("button");
      if (button) button.setAttribute("aria-pressed", String(selected));
    }
    sayTo.textContent = target === EVERYONE ? "everyone" : target;
    sayTo.classList.toggle("private", target !== EVERYONE);
    // Private messages to someone offline are kept for them: only a hint, not an error.
    const away = target !== EVERYONE && !findUser(target);
    sayTo.classList.toggle("gone", away);
    sayTo.title = away ? `${target} is not online; they will get it when they come back` : "";
  }

  // Typing

  function renderTyping() {
    const names = [...typingTimers.keys()];
    if (names.length === 0) typingLine.textContent = "";
    else if (names.length === 1) typingLine.textContent = `${names[0]} is typing…`;
    else typingLine.textContent = `${names.join(", ")} are typing…`;
  }

  function startTyping(name) {
    clearTimeout(typingTimers.get(name));
    typingTimers.set(
      name,
      setTimeout(() => stopTyping(name), TYPING_SHOW_MS),
    );
    renderTyping();
  }

  function stopTyping(name) {
    if (!typingTimers.has(name)) return;
    clearTimeout(typingTimers.get(name));
    typingTimers.delete(name);
    renderTyping();
  }

  function clearTyping() {
    [...typingTimers.keys()].forEach(stopTyping);
  }

  /** Tells the server I am typing, at most once a second, never while offline. */
  function announceTyping() {
    const now = Date.now();
    if (!socket.connected || !input.value.trim() || now - lastTypingSent < TYPING_THROTTLE_MS) return;
    lastTypingSent = now;
    socket.emit("typing", { to: target });
  }

  // Connection state

  function showState(state) {
    connState.textContent = STATES[state];
    for (const name of Object.keys(STATES)) connState.classList.toggle(`state-${name}`, name === state);
    root.dataset.state = state;
  }

  /**
   * The server closed the socket, most likely a logout in another tab. One quiet
   * retry finds out: connect_error "unauthorized" then leads to the login page.
   * At most once a minute, so a server that keeps kicking us is not hammered.
   */
  function retryAfterKick() {
    const now = Date.now();
    if (now - lastKickRetry < KICK_RETRY_EVERY_MS) return;
    lastKickRetry = now;
    setTimeout(() => {
      if (!socket.connected) socket.connect();
    }, KICK_RETRY_DELAY_MS);
  }

  /** The server refused the connection (its database is down): try again later, backing off. */
  function retryWhenAvailable() {
    const delay = unavailableDelay * (0.75 + Math.random() / 2);
    unavailableDelay = Math.min(unavailableDelay * 2, UNAVAILABLE_RETRY_MAX_MS);
    setTimeout(() => {
      if (!socket.connected && !socket.active) socket.connect();
    }, delay);
  }

  // DOM events

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const msg = input.value.trim();
    if (msg) sendMessage(target, msg);
    input.value = "";
    input.focus();
  });

  input.addEventListener("input", announceTyping);

  userList.addEventListener("click", (event) => {
    const entry = event.target.closest(".user");
    if (entry && userList.contains(entry)) setTarget(entry.dataset.user);
  });

  loadOlderButton.addEventListener("click", loadOlder);

  // Socket events

  socket.on("connect", () => {
    unavailableDelay = UNAVAILABLE_RETRY_MS;
    showState("online");
    pump();
  });

  socket.on("disconnect", (reason) => {
    clearTyping();
    catchingUp = false;
    // active: the client will reconnect by itself (not after a server kick).
    showState(socket.active ? "reconnecting" : "offline");
    if (reason === "io server disconnect") retryAfterKick();
  });

  socket.io.on("reconnect_attempt", () => showState("reconnecting"));
  socket.io.on("reconnect_failed", () => showState("offline"));

  socket.on("connect_error", (err) => {
    const reason = err && err.message;
    if (reason === "unauthorized") {
      window.location.assign(`${loginPath}?next=${encodeURIComponent(window.location.pathname)}`);
      return;
    }
    if (!socket.active) {
      // Refused by the server (not a network error, which the client retries itself).
      showState("reconnecting");
      retryWhenAvailable();
      return;
    }
    showState("reconnecting");
  });

  socket.on("history", receiveHistory);

  // Live delivery paused on the server (a Redis outage): fetch what I missed.
  socket.on("resync", () => {
    if (catchingUp || lastId === null) return;
    catchingUp = true;
    catchUp(lastId, connection);
  });

  socket.on("online", (data) => {
    if (Array.isArray(data.users)) {
      // Snapshot for this socket (first connect or reconnect).
      replaceUsers(data.users);
      addNotice(data.user === me ? "you entered the chat room" : `${data.user} came online`, data.at);
    } else {
      addUser(data.user);
      addNotice(`${data.user} came online`, data.at);
    }
    setCount(data.count);
  });

  socket.on("offline", (data) => {
    removeUser(data.user);
    stopTyping(data.user);
    addNotice(`${data.user} went offline`, data.at);
    setCount(data.count);
  });

  socket.on("say", showIncoming);

  socket.on("typing", (data) => {
    if (data.from && data.from !== me) startTyping(data.from);
  });

  showState("connecting");
  highlightTarget();
})();

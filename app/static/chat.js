// Chatroom browser client: one scope, talks to the /chat Socket.IO namespace.
//
// The server is the only authority on who is speaking and who is online: this
// file renders what it is told. User text only ever reaches the page through
// textContent / createTextNode, never as markup.
(() => {
  "use strict";

  const EVERYONE = "all";
  const ACK_TIMEOUT_MS = 10000;
  const TYPING_THROTTLE_MS = 1000;
  const TYPING_SHOW_MS = 3000;
  const NEAR_BOTTOM_PX = 80;
  const KICK_RETRY_DELAY_MS = 1500;
  const KICK_RETRY_EVERY_MS = 60000;
  const DEFAULT_LOGIN_PATH = "/auth/login";
  // Fallback sentences, used only when the server's answer carries no message.
  const ERROR_TEXT = {
    bad_request: "The server could not understand that message.",
    empty: "Empty messages are not sent.",
    too_long: "That message is too long.",
    no_such_user: "There is no such user.",
    not_online: "That user is not online.",
    rate_limited: "You are sending too fast; wait a moment.",
    timeout: "no answer from server",
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
  const userList = document.getElementById("users");
  const userCount = document.getElementById("user-count");
  const sayTo = document.getElementById("say-to");
  const typingLine = document.getElementById("typing");
  const composer = document.getElementById("composer");
  const input = document.getElementById("input");

  const me = root.dataset.username;
  const loginPath = root.dataset.loginUrl || DEFAULT_LOGIN_PATH;

  let target = EVERYONE;
  let lastTypingSent = 0;
  let lastKickRetry = 0;
  const shownIds = new Set(); // ids of messages already on screen
  const typingTimers = new Map(); // username -> timeout id

  const socket = io("/chat");

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

  /** Appends a line to the pane, following it only if the reader was at the bottom. */
  function appendLine(el, { forceScroll = false } = {}) {
    const follow = forceScroll || isNearBottom();
    messages.appendChild(el);
    if (follow) messages.scrollTop = messages.scrollHeight;
  }

  function findMessage(id) {
    for (const el of messages.querySelectorAll(".msg[data-id]")) {
      if (el.dataset.id === String(id)) return el;
    }
    return null;
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

  /** Forgets what sendMessage kept for recognising the server's echo. */
  function settle(line) {
    delete line.dataset.to;
    delete line.dataset.msg;
  }

  function markSent(line, id, at) {
    settle(line);
    line.classList.remove("pending", "failed");
    line.classList.add("sent");
    if (id !== undefined && id !== null) {
      line.dataset.id = String(id);
      shownIds.add(String(id));
    }
    setMessageTime(line, at);
  }

  function markFailed(line, reason) {
    settle(line);
    line.classList.remove("pending", "sent");
    line.classList.add("failed");
    const note = document.createElement("div");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.textContent = reason;
    const follow = isNearBottom();
    line.appendChild(note);
    if (follow) messages.scrollTop = messages.scrollHeight;
  }

  /** Renders a say event from the server (someone else, or me in another tab). */
  function showIncoming(data) {
    const id = String(data.id);
    if (shownIds.has(id)) return;

    const isPrivate = data.to !== EVERYONE;
    if (data.from === me) {
      // The server may echo my own message before it answers my ack: adopt it.
      const pending = findPendingMine(data.to, data.msg);
      if (pending) {
        markSent(pending, id, data.at);
        return;
      }
    }
    shownIds.add(id);
    stopTyping(data.from);

    const mine = data.from === me;
    const line = buildMessage({
      who: mine ? "You" : data.from,
      whom: !isPrivate ? "everyone" : data.to === me ? "you" : data.to,
      msg: data.msg,
      at: data.at,
      isPrivate,
      classes: mine ? ["mine", "sent"] : [],
    });
    line.dataset.id = id;
    appendLine(line);
  }

  function findPendingMine(to, msg) {
    for (const line of messages.querySelectorAll(".msg.mine.pending:not([data-id])")) {
      if (line.dataset.to === to && line.dataset.msg === String(msg).trim()) return line;
    }
    return null;
  }

  /** Shows my message at once, sends it, then settles it from the ack. */
  function sendMessage(to, msg) {
    const line = buildMessage({
      who: "You",
      whom: to === EVERYONE ? "everyone" : to,
      msg,
      at: null,
      isPrivate: to !== EVERYONE,
      classes: ["mine", "pending"],
    });
    // Used only to recognise the server's echo of this message.
    line.dataset.to = to;
    line.dataset.msg = msg;
    appendLine(line, { forceScroll: true });

    socket.timeout(ACK_TIMEOUT_MS).emit("say", { to, msg }, (err, ack) => {
      if (err) {
        markFailed(line, ERROR_TEXT.timeout);
      } else if (ack && ack.ok) {
        settleAck(line, ack);
      } else {
        const code = ack && ack.error;
        markFailed(line, (ack && ack.message) || ERROR_TEXT[code] || "The message was not sent.");
      }
    });
  }

  function settleAck(line, ack) {
    const id = String(ack.id);
    const twin = findMessage(id);
    if (twin && twin !== line) twin.remove(); // the echo was drawn separately
    markSent(line, line.dataset.id || id, ack.at);
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
    const gone = target !== EVERYONE && !findUser(target);
    sayTo.classList.toggle("gone", gone);
    sayTo.title = gone ? `${target} is not online` : "";
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

  // Socket events

  socket.on("connect", () => showState("online"));

  socket.on("disconnect", (reason) => {
    clearTyping();
    // active: the client will reconnect by itself (not after a server kick).
    showState(socket.active ? "reconnecting" : "offline");
    if (reason === "io server disconnect") retryAfterKick();
  });

  socket.io.on("reconnect_attempt", () => showState("reconnecting"));
  socket.io.on("reconnect_failed", () => showState("offline"));

  socket.on("connect_error", (err) => {
    if (err && err.message === "unauthorized") {
      window.location.assign(`${loginPath}?next=${encodeURIComponent(window.location.pathname)}`);
      return;
    }
    showState(socket.active ? "reconnecting" : "offline");
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

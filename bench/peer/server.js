#!/usr/bin/env node
// A minimal socket.io 4.8 server speaking Chatroom's /chat protocol: the Node peer
// the benchmark compares Chatroom with. No accounts, checks beyond the payload's
// shape, or storage.
//
// Users identify themselves with the connection's auth data {user: NAME} (or the
// query string ?user=NAME); nothing is verified. On connect a socket gets an empty
// `history`, then presence as Chatroom sends it (`online` to everyone else on a
// user's first socket, `online` with the sorted `users` list to the socket itself,
// `offline` to everyone on the last). `say` {to, msg} is acknowledged
// {ok, id, at}: to "all" it goes to every socket but the sending one; to a user, to
// that user's sockets and the sender's other sockets. A private message to a user
// who is not online is refused with `no_such_user` (nothing is queued).
//
// Usage: node bench/peer/server.js --port 8123 [--host 127.0.0.1]
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const EVERYONE_ROOM = "everyone";
const options = parseArguments(process.argv.slice(2));

const online = new Map(); // name key -> {name, sockets: Set of socket ids}
let nextId = 1;

function parseArguments(argv) {
  const parsed = { host: "127.0.0.1", port: 8123 };
  for (let i = 0; i < argv.length; i += 2) parsed[argv[i].replace(/^--/, "")] = argv[i + 1];
  parsed.port = Number(parsed.port);
  return parsed;
}

function nameKey(name) {
  return name.toLowerCase();
}

function personalRoom(name) {
  return `user:${nameKey(name)}`;
}

function now() {
  return new Date().toISOString();
}

function sortedNames() {
  const byKey = (a, b) => (nameKey(a) < nameKey(b) ? -1 : nameKey(a) > nameKey(b) ? 1 : 0);
  return [...online.values()].map((entry) => entry.name).sort(byKey);
}

const httpServer = http.createServer((request, response) => {
  if (request.url === "/healthz") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end('{"status": "ok"}');
    return;
  }
  response.writeHead(404);
  response.end();
});

const io = new Server(httpServer, { maxHttpBufferSize: 64 * 1024 });
const chat = io.of("/chat");

chat.use((socket, next) => {
  const user = (socket.handshake.auth && socket.handshake.auth.user) || socket.handshake.query.user;
  if (typeof user !== "string" || user.length === 0 || user.length > 32) {
    next(new Error("unauthorized"));
    return;
  }
  socket.data.user = user;
  next();
});

chat.on("connection", (socket) => {
  const user = socket.data.user;
  const key = nameKey(user);
  socket.emit("history", { messages: [], more: false });
  socket.join([personalRoom(user), EVERYONE_ROOM]);
  let entry = online.get(key);
  const first = entry === undefined;
  if (first) {
    entry = { name: user, sockets: new Set() };
    online.set(key, entry);
  }
  entry.sockets.add(socket.id);
  const notice = { user, at: now(), count: online.size };
  if (first) socket.broadcast.emit("online", notice);
  socket.emit("online", { ...notice, users: sortedNames() });

  socket.on("say", (payload, ack) => {
    const answer = typeof ack === "function" ? ack : () => {};
    if (!payload || typeof payload.to !== "string" || typeof payload.msg !== "string") {
      answer({ ok: false, error: "bad_request", message: "'to' and 'msg' must be strings." });
      return;
    }
    const text = payload.msg.trim();
    if (!text) {
      answer({ ok: false, error: "empty", message: "The message is empty." });
      return;
    }
    const message = { id: nextId++, from: user, to: "all", msg: text, at: now() };
    if (nameKey(payload.to) === "all") {
      socket.to(EVERYONE_ROOM).emit("say", message);
    } else {
      const recipient = online.get(nameKey(payload.to));
      if (recipient === undefined) {
        answer({ ok: false, error: "no_such_user", message: "Nobody of that name is online." });
        return;
      }
      message.to = recipient.name;
      socket.to([personalRoom(recipient.name), personalRoom(user)]).emit("say", message);
    }
    answer({ ok: true, id: message.id, at: message.at });
  });

  socket.on("disconnect", () => {
    entry.sockets.delete(socket.id);
    if (entry.sockets.size === 0 && online.get(key) === entry) {
      online.delete(key);
      chat.emit("offline", { user, at: now(), count: online.size });
    }
  });
});

httpServer.listen(options.port, options.host, () => {
  console.log(`peer listening on http://${options.host}:${options.port}`);
});

#!/usr/bin/env node
// The benchmark's load generator: many socket.io clients in one Node process.
//
// Driven by bench/run.py: one JSON command per line on stdin, one JSON event per
// line on stdout. It connects the clients, sends `say` messages at a fixed
// offered rate (open loop: a slow server does not slow the sender down, so
// queueing shows up as latency instead of being hidden), and counts every
// delivery it receives. Senders and receivers live in this one process, so a
// single monotonic clock (performance.now) timestamps both ends.
//
// Each message text is "<step>:<sender>:<seq>:<recipient>:<message>:<sent at, ms>:"
// padded with "x" to the message size; the servers relay it verbatim. <seq> counts
// the sender's messages (to check their order), <message> all messages (to count
// each one's deliveries exactly: lost, duplicated).
//
// Commands:
//   {"cmd": "connect", "url", "clients": [{"name", "cookie"?}], "auth": "cookie"|"user",
//    "concurrency", "timeout_ms"}                     -> {"type": "connected", ...}
//   {"cmd": "step", "id", "kind": "fanout"|"private", "rate", "duration_s",
//    "senders", "size", "drain_s"}                    -> step_begin, step_sent, step_result
//   {"cmd": "quiesce", "quiet_ms", "max_s"}            -> {"type": "quiet", ...}
//   {"cmd": "final"}                                   -> {"type": "final", "steps": [...]}
//   {"cmd": "disconnect"}                              -> {"type": "disconnected", ...}
//   {"cmd": "exit"}
"use strict";

const { randomFillSync } = require("node:crypto");
const readline = require("node:readline");
const { performance } = require("node:perf_hooks");
const { io } = require("socket.io-client");

const USER_AGENT = "chatroom-bench/1";
const PAD = "x".repeat(4096);

const clients = []; // {name, socket, connected}
const steps = new Map(); // step id -> Step
let connectedCount = 0;
let unexpectedDisconnects = 0;
let closing = false;
let strayReceipts = 0; // `say` events that are not ours (should stay 0)
let lastReceiptAt = 0;
let senderSeq = null; // Int32Array: last seq sent per client
let lastSeen = null; // Int32Array: receiver * N + sender -> last seq received
let seqWidth = 0;
// Per message (numbered across the whole run): deliveries expected and received so far.
let messageCount = 0;
let expectedOf = new Uint16Array(1 << 16);
let receivedOf = new Uint16Array(1 << 16);

function emitEvent(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

// A growable Float64Array: latencies are pushed at up to a few 100k/s.
class Samples {
  constructor() {
    this.data = new Float64Array(1024);
    this.length = 0;
  }

  push(value) {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  summary() {
    const n = this.length;
    if (n === 0) return { count: 0 };
    const sorted = this.data.slice(0, n).sort();
    const rank = (p) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
    let sum = 0;
    for (let i = 0; i < n; i++) sum += sorted[i];
    const round = (v) => Math.round(v * 1000) / 1000;
    return {
      count: n,
      mean: round(sum / n),
      p50: round(rank(0.5)),
      p95: round(rank(0.95)),
      p99: round(rank(0.99)),
      max: round(sorted[n - 1]),
    };
  }
}

// ---------------------------------------------------------------- connecting

function connectOne(url, spec, auth, timeoutMs) {
  const headers = { origin: url, "user-agent": USER_AGENT };
  if (spec.cookie) headers.cookie = spec.cookie;
  const options = {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
    extraHeaders: headers,
  };
  if (auth === "user") options.auth = { user: spec.name };
  const started = performance.now();
  const socket = io(`${url}/chat`, options);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false, "timeout"), timeoutMs + 1000);
    function finish(ok, error) {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
      if (!ok) socket.disconnect();
      resolve({ ok, error, socket, elapsed: performance.now() - started });
    }
    function onConnect() {
      finish(true);
    }
    function onError(error) {
      finish(false, (error && error.message) || "connect_error");
    }
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

function touch() {
  lastReceiptAt = performance.now();
}

function attach(client, index) {
  client.socket.on("say", (message) => receive(index, message));
  // Presence and history count as traffic for `quiesce`, not as deliveries.
  for (const event of ["online", "offline", "history"]) client.socket.on(event, touch);
  client.socket.on("disconnect", () => {
    if (client.connected) {
      client.connected = false;
      connectedCount--;
      if (!closing) unexpectedDisconnects++;
    }
  });
}

async function connectAll(command) {
  const specs = command.clients;
  const concurrency = command.concurrency || 50;
  const timeoutMs = command.timeout_ms || 20000;
  // No new handshake starts after the deadline: a server that falls behind cannot hold the run.
  const deadline = performance.now() + (command.deadline_ms || 3_600_000);
  const times = new Samples();
  const errors = {};
  let failed = 0;
  let next = 0;
  let abandoned = 0;
  const started = performance.now();
  async function worker() {
    while (next < specs.length) {
      if (performance.now() >= deadline) {
        abandoned += specs.length - next;
        next = specs.length;
        break;
      }
      const spec = specs[next++];
      const result = await connectOne(command.url, spec, command.auth, timeoutMs);
      if (result.ok) {
        const client = { name: spec.name, socket: result.socket, connected: true };
        clients.push(client);
        connectedCount++;
        attach(client, clients.length - 1);
        times.push(result.elapsed);
      } else {
        failed++;
        errors[result.error] = (errors[result.error] || 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, worker));
  const first = clients.find((client) => client.connected);
  const transport = first ? first.socket.io.engine.transport : null;
  emitEvent({
    type: "connected",
    count: specs.length - failed - abandoned,
    failed,
    abandoned,
    errors,
    total_connected: connectedCount,
    elapsed_ms: Math.round(performance.now() - started),
    connect_ms: times.summary(),
    // Whether the server accepted the permessage-deflate offer every browser makes.
    extensions: transport && transport.ws ? transport.ws.extensions || "" : null,
  });
}

// ---------------------------------------------------------------- one step of load

function newStep(command) {
  return {
    id: command.id,
    kind: command.kind,
    rate: command.rate,
    durationS: command.duration_s,
    sent: 0,
    expected: 0,
    received: 0, // unique, in-order deliveries
    duplicates: 0, // deliveries beyond what a message should have had
    reordered: 0, // deliveries older than one already received from the same sender
    misrouted: 0,
    late: 0, // received after step_result was reported
    ackOk: 0,
    ackError: 0,
    errors: {},
    latency: new Samples(),
    ackLatency: new Samples(),
    start: 0,
    sendEnd: 0,
    lastReceipt: 0,
    maxTickGap: 0,
    reported: false,
  };
}

function receive(receiver, message) {
  const now = performance.now();
  lastReceiptAt = now;
  const text = message && message.msg;
  if (typeof text !== "string") {
    strayReceipts++;
    return;
  }
  const parts = text.split(":", 6);
  const step = steps.get(Number(parts[0]));
  if (step === undefined) {
    strayReceipts++;
    return;
  }
  const sender = Number(parts[1]);
  const seq = Number(parts[2]);
  const recipient = Number(parts[3]);
  if (sender === receiver || (recipient >= 0 && recipient !== receiver)) {
    step.misrouted++;
    return;
  }
  const index = Number(parts[4]);
  if (++receivedOf[index] > expectedOf[index]) {
    step.duplicates++;
    return;
  }
  const key = receiver * seqWidth + sender;
  if (seq <= lastSeen[key]) step.reordered++;
  else lastSeen[key] = seq;
  step.received++;
  if (step.reported) step.late++;
  step.latency.push(now - Number(parts[5]));
  if (now > step.lastReceipt) step.lastReceipt = now;
}

/** A UUID version 7 (RFC 9562), as app/static/chat.js's newCid makes one: milliseconds, then random bits. */
function uuid7() {
  const bytes = randomFillSync(Buffer.alloc(16));
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function sendOne(step, size, sender, recipient) {
  const seq = ++senderSeq[sender];
  const index = nextMessageIndex();
  const deliveries = recipient < 0 ? connectedCount - 1 : 1;
  expectedOf[index] = deliveries;
  const sentAt = performance.now();
  let text = `${step.id}:${sender}:${seq}:${recipient}:${index}:${sentAt.toFixed(3)}:`;
  if (text.length < size) text += PAD.slice(0, size - text.length);
  const target = recipient < 0 ? "all" : clients[recipient].name;
  step.sent++;
  step.expected += deliveries;
  // A cid as the chat page sends one (a UUID version 7: uuid7), so the store
  // maintains its (sender, cid) index as it does for browsers.
  clients[sender].socket.emit("say", { to: target, msg: text, cid: uuid7() }, (ack) => {
    step.ackLatency.push(performance.now() - sentAt);
    if (ack && ack.ok) {
      step.ackOk++;
    } else {
      // Refused: nothing was delivered, so nothing is expected.
      const code = (ack && ack.error) || "malformed_ack";
      step.ackError++;
      step.errors[code] = (step.errors[code] || 0) + 1;
      step.expected -= deliveries;
      expectedOf[index] = 0;
    }
  });
}

function nextMessageIndex() {
  if (messageCount === expectedOf.length) {
    const expected = new Uint16Array(expectedOf.length * 2);
    const received = new Uint16Array(expectedOf.length * 2);
    expected.set(expectedOf);
    received.set(receivedOf);
    expectedOf = expected;
    receivedOf = received;
  }
  return messageCount++;
}

function ensureSequenceTables() {
  if (seqWidth === clients.length) return;
  seqWidth = clients.length;
  senderSeq = new Int32Array(seqWidth);
  lastSeen = new Int32Array(seqWidth * seqWidth);
}

function runStep(command) {
  ensureSequenceTables();
  const step = newStep(command);
  steps.set(step.id, step);
  const live = clients.map((client, index) => (client.connected ? index : -1)).filter((i) => i >= 0);
  const senders = step.kind === "fanout" ? live.slice(0, command.senders || 5) : live;
  const total = Math.round(step.rate * step.durationS);
  const durationMs = step.durationS * 1000;
  const size = command.size || 64;
  let turn = 0;
  emitEvent({ type: "step_begin", id: step.id });
  step.loopAtStart = performance.eventLoopUtilization();
  step.start = performance.now();
  let lastTick = step.start;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      step.maxTickGap = Math.max(step.maxTickGap, now - lastTick);
      lastTick = now;
      const elapsed = now - step.start;
      const due = elapsed >= durationMs ? total : Math.min(total, Math.floor((elapsed / 1000) * step.rate));
      while (step.sent < due) {
        const position = turn++ % senders.length;
        let recipient = -1;
        if (step.kind === "private") {
          // A random other client: draw among the others, skipping the sender's position.
          let other = Math.floor(Math.random() * (live.length - 1));
          if (other >= position) other++;
          recipient = live[other];
        }
        sendOne(step, size, senders[position], recipient);
      }
      if (step.sent >= total) {
        clearInterval(timer);
        step.sendEnd = performance.now();
        // How busy this process's event loop was while sending: near 1, the generator is the limit.
        step.loopUtilization = performance.eventLoopUtilization(step.loopAtStart).utilization;
        emitEvent({ type: "step_sent", id: step.id });
        drain(step, command.drain_s || 5).then(resolve);
      }
    }, 1);
  });
}

function settled(step) {
  return step.received >= step.expected && step.ackOk + step.ackError >= step.sent;
}

function drain(step, drainS) {
  const deadline = step.sendEnd + drainS * 1000;
  return new Promise((resolve) => {
    const check = () => {
      if (settled(step) || performance.now() >= deadline) {
        step.reported = true;
        emitEvent({ type: "step_result", ...stepReport(step) });
        resolve();
      } else {
        setTimeout(check, 5);
      }
    };
    check();
  });
}

function stepReport(step) {
  const sendS = (step.sendEnd - step.start) / 1000;
  const receiveS = ((step.lastReceipt || step.sendEnd) - step.start) / 1000;
  return {
    id: step.id,
    kind: step.kind,
    rate: step.rate,
    sent: step.sent,
    send_s: round3(sendS),
    receive_s: round3(receiveS),
    expected: step.expected,
    received: step.received,
    lost: step.expected - step.received,
    late: step.late,
    duplicates: step.duplicates,
    reordered: step.reordered,
    misrouted: step.misrouted,
    acked: step.ackOk,
    ack_errors: step.ackError,
    errors: step.errors,
    unacked: step.sent - step.ackOk - step.ackError,
    offered_msgs_s: round3(step.sent / sendS),
    offered_deliveries_s: round3(step.expected / sendS),
    received_deliveries_s: round3(step.received / receiveS),
    latency_ms: step.latency.summary(),
    ack_ms: step.ackLatency.summary(),
    max_tick_gap_ms: round3(step.maxTickGap),
    generator_loop_utilization: round3(step.loopUtilization || 0),
    connected: connectedCount,
    unexpected_disconnects: unexpectedDisconnects,
  };
}

function round3(value) {
  return Math.round(value * 1000) / 1000;
}

// ---------------------------------------------------------------- the rest

function quiesce(command) {
  const quietMs = command.quiet_ms || 500;
  const started = performance.now();
  const deadline = started + (command.max_s || 20) * 1000;
  return new Promise((resolve) => {
    const check = () => {
      const now = performance.now();
      const quiet = now - Math.max(lastReceiptAt, started) >= quietMs;
      if (quiet || now >= deadline) {
        emitEvent({ type: "quiet", quiet, waited_ms: Math.round(now - started) });
        resolve();
      } else {
        setTimeout(check, 20);
      }
    };
    check();
  });
}

function final() {
  emitEvent({
    type: "final",
    steps: [...steps.values()].map(stepReport),
    stray_receipts: strayReceipts,
    unexpected_disconnects: unexpectedDisconnects,
    connected: connectedCount,
  });
}

async function disconnectAll() {
  const started = performance.now();
  closing = true;
  for (const client of clients) client.socket.disconnect();
  emitEvent({ type: "disconnected", elapsed_ms: Math.round(performance.now() - started) });
}

const handlers = {
  connect: connectAll,
  step: runStep,
  quiesce,
  final,
  disconnect: disconnectAll,
  exit: () => process.exit(0),
};

// Commands run one at a time, in order.
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  queue = queue.then(async () => {
    try {
      await handlers[command.cmd](command);
    } catch (error) {
      emitEvent({ type: "error", cmd: command.cmd, message: String((error && error.stack) || error) });
    }
  });
});
process.stdin.on("end", () => queue.then(() => process.exit(0)));

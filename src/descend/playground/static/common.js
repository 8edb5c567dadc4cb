// descend playground: the connection, the tabs, and helpers both tabs use.
"use strict";

const Playground = {
  socket: null,
  handlers: {},       // message type -> [function(message)]
  schema: null,
  landscapes: [],
  pending: [],        // messages sent before the socket opened
};

function on(type, handler) {
  (Playground.handlers[type] = Playground.handlers[type] || []).push(handler);
}

function send(message) {
  const text = JSON.stringify(message);
  if (Playground.socket && Playground.socket.readyState === WebSocket.OPEN) {
    Playground.socket.send(text);
  } else {
    Playground.pending.push(text);
  }
}

function showError(text) {
  document.getElementById("error-text").textContent = text;
  document.getElementById("error").hidden = false;
}

function clearError() {
  document.getElementById("error").hidden = true;
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws`);
  Playground.socket = socket;
  const status = document.getElementById("connection");
  socket.onopen = () => {
    status.textContent = "connected";
    for (const text of Playground.pending.splice(0)) socket.send(text);
  };
  socket.onclose = () => { status.textContent = "disconnected: reload the page to start again"; };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "error") showError(message.message);
    for (const handler of Playground.handlers[message.type] || []) handler(message);
  };
}

// ---- pictures ---------------------------------------------------------------------------

// TensorFlow Playground's diverging scale: orange (-1) through white (0) to blue (+1).
const NEGATIVE = [245, 147, 34], POSITIVE = [8, 119, 189];

function divergingColour(v) {
  const c = v < 0 ? NEGATIVE : POSITIVE, t = Math.min(1, Math.abs(v));
  return [255 + (c[0] - 255) * t, 255 + (c[1] - 255) * t, 255 + (c[2] - 255) * t];
}

function decodeBytes(b64, signed) {
  const raw = atob(b64), out = signed ? new Int8Array(raw.length) : new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

// An offscreen canvas holding a size×size picture of int8 values (127 = +1) in the diverging
// scale; drawn scaled with drawImage, so every picture costs one small putImageData.
function heatmapCanvas(b64, size, canvas) {
  const values = decodeBytes(b64, true);
  canvas = canvas || document.createElement("canvas");
  canvas.width = size; canvas.height = size;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(size, size);
  for (let i = 0; i < values.length; i++) {
    const [r, g, b] = divergingColour(values[i] / 127);
    image.data[4 * i] = r; image.data[4 * i + 1] = g; image.data[4 * i + 2] = b; image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function formatNumber(v) {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

function download(message) {
  let blob;
  if (message.base64 !== undefined) {
    blob = new Blob([decodeBytes(message.base64, false)], { type: message.mime });
  } else {
    blob = new Blob([message.text], { type: message.mime });
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = message.filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function option(select, value, label) {
  const o = document.createElement("option");
  o.value = value; o.textContent = label === undefined ? value : label;
  select.appendChild(o);
}

// The first "hello" handler: the tabs' handlers (registered after it) read the schema.
on("hello", (message) => {
  Playground.schema = message.schema;
  Playground.landscapes = message.landscapes;
  Playground.uploadLimit = message.upload_limit;
});

// ---- tabs --------------------------------------------------------------------------------
function showTab(name) {
  for (const button of document.querySelectorAll(".tab")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const page of document.querySelectorAll(".page")) page.hidden = page.id !== name;
  const params = new URLSearchParams(location.search);
  params.set("tab", name);
  history.replaceState(null, "", `?${params}`);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll(".tab")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  document.getElementById("error-close").addEventListener("click", clearError);
  const tab = new URLSearchParams(location.search).get("tab");
  if (tab === "landscape") showTab("landscape");
  connect();
});

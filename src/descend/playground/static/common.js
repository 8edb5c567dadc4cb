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

// The diverging scale for every int8 value v (127 = +1) as RGBA at 4·(v + 128): a picture's
// pixels are looked up, not computed (a 6 × 32 network has 200 pictures a frame).
const DIVERGING_RGBA = new Uint8ClampedArray(256 * 4);
for (let v = -128; v < 128; v++) {
  DIVERGING_RGBA.set([...divergingColour(v / 127), 255], 4 * (v + 128));
}

// Writes the int8 picture `b64` (size × size, rows from the top) into `image` (ImageData) with
// its top-left corner at column `left`.
function paintHeatmap(image, b64, size, left = 0) {
  const raw = atob(b64), data = image.data, width = image.width;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw.charCodeAt(i), lut = 4 * (byte < 128 ? byte + 128 : byte - 128);
    const at = 4 * ((i / size | 0) * width + left + i % size);
    data[at] = DIVERGING_RGBA[lut]; data[at + 1] = DIVERGING_RGBA[lut + 1];
    data[at + 2] = DIVERGING_RGBA[lut + 2]; data[at + 3] = 255;
  }
}

// An offscreen canvas holding a size×size picture of int8 values in the diverging scale; drawn
// scaled with drawImage, so a picture costs one small putImageData.
function heatmapCanvas(b64, size, canvas) {
  canvas = canvas || document.createElement("canvas");
  if (canvas.width !== size || canvas.height !== size) { canvas.width = size; canvas.height = size; }
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(size, size);
  paintHeatmap(image, b64, size);
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

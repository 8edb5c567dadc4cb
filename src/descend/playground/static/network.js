// descend playground, Network tab: the controls, the URL state and the live pictures.
"use strict";

const Net = {
  config: null,      // the configuration the server accepted last
  ready: null,       // its "ready" message: points, input pictures, equation, sizes
  frame: null,       // the last frame
  curve: [],         // [step, train loss, test loss]
  playing: false,
  framesShown: 0,    // frames received
  framesDrawn: 0,    // frames drawn (benchmarks/playground.py counts them)
  unanswered: 0,     // frames received since the last drawing (each is answered "drawn")
  drawing: false,    // a drawing is scheduled for the next animation frame
  fellBack: false,   // the URL's settings were refused and the defaults asked for instead
  neuronAtlas: document.createElement("canvas"),  // every neuron's picture side by side
  boundaryCanvas: document.createElement("canvas"),
};

const SIMPLE_FIELDS = ["dataset", "n_samples", "noise", "test_fraction", "seed", "activation",
  "dropout", "init", "regularization", "reg_rate", "batch_mode", "batch_size", "optimizer", "lr",
  "schedule", "schedule_gamma", "schedule_period", "steps_per_frame"];

// ---- the configuration: controls <-> object <-> URL ---------------------------------------
function configFromUrl() {
  const params = new URLSearchParams(location.search), config = {};
  for (const key of Object.keys(Playground.schema.defaults)) {
    if (!params.has(key)) continue;
    const raw = params.get(key);
    try { config[key] = JSON.parse(raw); } catch (e) { config[key] = raw; }
  }
  return config;
}

function saveToUrl(config) {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(config)) {
    params.set(key, typeof value === "string" ? value : JSON.stringify(value));
  }
  history.replaceState(null, "", `?${params}`);
}

function readControls() {
  const config = {};
  for (const key of SIMPLE_FIELDS) {
    const value = document.getElementById(key).value;
    config[key] = key in Playground.schema.limits ? Number(value) : value;  // the numeric ones
  }
  config.features = [...document.querySelectorAll("#features input:checked")].map((i) => i.value);
  config.hidden = [...document.querySelectorAll("#layer-sizes input")].map((i) => Number(i.value));
  const hyper = {};
  for (const input of document.querySelectorAll("#hyper [data-hyper]")) {
    const name = input.dataset.hyper, kind = input.dataset.kind;
    if (kind === "bool") hyper[name] = input.checked;
    else if (kind === "pair") {
      hyper[name] = hyper[name] || [];
      hyper[name][Number(input.dataset.index)] = Number(input.value);
    } else hyper[name] = Number(input.value);
  }
  config.hyper = hyper;
  return config;
}

function drawHyperControls(optimizer, values) {
  const box = document.getElementById("hyper");
  box.textContent = "";
  for (const h of Playground.schema.optimizers[optimizer]) {
    const value = values && h.name in values ? values[h.name] : h.default;
    const label = document.createElement("label");
    label.append(h.name + " ");
    const parts = h.kind === "pair" ? [0, 1] : [null];
    for (const index of parts) {
      const input = document.createElement("input");
      input.dataset.hyper = h.name; input.dataset.kind = h.kind; input.id = `hyper-${h.name}${index === null ? "" : "-" + index}`;
      if (h.kind === "bool") { input.type = "checkbox"; input.checked = value; }
      else { input.type = "number"; input.step = "any"; input.value = index === null ? value : value[index]; }
      if (index !== null) input.dataset.index = index;
      input.addEventListener("change", changed);
      label.appendChild(input);
    }
    box.appendChild(label);
  }
}

function drawLayerControls(hidden) {
  const box = document.getElementById("layer-sizes");
  box.textContent = "";
  hidden.forEach((size, i) => {
    const input = document.createElement("input");
    input.type = "number"; input.min = 1; input.max = Playground.schema.limits.neurons[1];
    input.value = size; input.id = `layer-${i}`; input.title = `neurons in hidden layer ${i + 1}`;
    input.addEventListener("change", changed);
    box.appendChild(input);
  });
}

function setControls(config) {
  for (const key of SIMPLE_FIELDS) document.getElementById(key).value = config[key];
  for (const input of document.querySelectorAll("#features input")) {
    input.checked = config.features.includes(input.value);
  }
  drawLayerControls(config.hidden);
  drawHyperControls(config.optimizer, config.hyper);
  document.getElementById("batch_size").disabled = config.batch_mode !== "minibatch";
}

function sendConfig(config) {
  clearError();
  send({ type: "config", config });
}

function changed(event) {
  const config = readControls();
  if (event && event.target.id === "optimizer") config.hyper = {};  // the new optimizer's defaults
  if (event && event.target.id === "steps_per_frame") {
    send({ type: "speed", steps_per_frame: config.steps_per_frame });
    Net.config.steps_per_frame = config.steps_per_frame;
    saveToUrl(Net.config);
    return;
  }
  document.getElementById("preset").value = "";
  document.getElementById("preset-why").textContent = "";
  sendConfig(config);
}

function buildControls(schema) {
  const fill = (id, values, labels) => {
    const select = document.getElementById(id);
    select.textContent = "";
    for (const v of values) option(select, v, labels ? labels(v) : v);
  };
  fill("dataset", Object.keys(schema.datasets), (d) => `${d} (${schema.datasets[d].task})`);
  fill("activation", schema.activations);
  fill("init", schema.inits);
  fill("regularization", schema.regularizations);
  fill("optimizer", Object.keys(schema.optimizers));
  fill("schedule", schema.schedules);
  const presets = document.getElementById("preset");
  for (const name of Object.keys(schema.presets)) option(presets, name);
  const features = document.getElementById("features");
  for (const [name, label] of Object.entries(schema.features)) {
    const l = document.createElement("label"), input = document.createElement("input");
    input.type = "checkbox"; input.value = name; input.id = `feature-${name}`;
    input.addEventListener("change", changed);
    l.append(input, " " + label);
    features.appendChild(l);
  }
  for (const key of SIMPLE_FIELDS) document.getElementById(key).addEventListener("change", changed);
}

// ---- pictures -------------------------------------------------------------------------------
function drawBoundary() {
  const canvas = document.getElementById("boundary"), ctx = canvas.getContext("2d");
  const { ready, frame } = Net;
  if (!ready || !frame) return;
  heatmapCanvas(frame.boundary, ready.grid, Net.boundaryCanvas);
  ctx.imageSmoothingEnabled = true;
  // the surface a shade paler than the points (as TensorFlow Playground draws it): a point on
  // its own class's side still stands out from it, not only by its rim
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.globalAlpha = 0.7;
  ctx.drawImage(Net.boundaryCanvas, 0, 0, canvas.width, canvas.height);
  ctx.globalAlpha = 1;
  const scale = canvas.width / (2 * ready.domain);
  const classification = ready.task === "classification";
  const dot = (points, stroke) => {
    for (const [x1, x2, y] of points) {
      const [r, g, b] = divergingColour(classification ? 2 * y - 1 : y);
      ctx.beginPath();
      ctx.arc((x1 + ready.domain) * scale, (ready.domain - x2) * scale, 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fill();
      ctx.lineWidth = 1; ctx.strokeStyle = stroke; ctx.stroke();
    }
  };
  dot(ready.train, "#fff");
  dot(ready.test, "#000");
}

function drawNetwork() {
  const canvas = document.getElementById("network-canvas"), ctx = canvas.getContext("2d");
  const { ready, frame } = Net;
  if (!ready || !frame) return;
  const sizes = ready.sizes, columns = sizes.length;
  const widest = Math.max(...sizes);
  const box = Math.max(8, Math.min(36, Math.floor((canvas.height - 20) / widest) - 3));
  const gapX = (canvas.width - box - 20) / (columns - 1);
  const position = (layer, i) => {
    const top = (canvas.height - sizes[layer] * (box + 3)) / 2;
    return [10 + layer * gapX, top + i * (box + 3)];
  };
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  // links: width and colour show each weight's size and sign. They are sorted into a few
  // buckets (sign × width) and each bucket is stroked once: thousands of links stay cheap.
  const LEVELS = 8, buckets = new Map();
  frame.weights.forEach((matrix, layer) => {
    matrix.forEach((row, j) => row.forEach((w, i) => {
      const level = Math.min(LEVELS - 1, Math.floor(Math.abs(w) * 3));
      const key = (w < 0 ? -1 : 1) * (level + 1);
      if (!buckets.has(key)) buckets.set(key, []);
      buckets.get(key).push(position(layer, i), position(layer + 1, j));
    }));
  });
  for (const [key, ends] of buckets) {
    const level = Math.abs(key) - 1, strength = (level + 1) / LEVELS;
    const [r, g, b] = divergingColour(Math.sign(key) * (0.25 + 0.75 * strength));
    ctx.strokeStyle = `rgba(${r},${g},${b},0.85)`;
    ctx.lineWidth = 0.4 + level * 0.6;
    ctx.beginPath();
    for (let k = 0; k < ends.length; k += 2) {
      const [x0, y0] = ends[k], [x1, y1] = ends[k + 1];
      ctx.moveTo(x0 + box, y0 + box / 2); ctx.lineTo(x1, y1 + box / 2);
    }
    ctx.stroke();
  }
  // each neuron's output over the square as a small heat map: all of them painted side by side
  // into one atlas (one putImageData), then each drawn from its part of the atlas, scaled
  const pictures = [ready.inputs, ...frame.neurons, [frame.output]];
  const size = ready.neuron_grid, count = pictures.reduce((n, layer) => n + layer.length, 0);
  const atlas = Net.neuronAtlas;
  if (atlas.width !== size * count || atlas.height !== size) {
    atlas.width = size * count; atlas.height = size;
  }
  const atlasCtx = atlas.getContext("2d"), image = atlasCtx.createImageData(size * count, size);
  let k = 0;
  pictures.forEach((layer) => layer.forEach((b64) => { paintHeatmap(image, b64, size, size * k); k += 1; }));
  atlasCtx.putImageData(image, 0, 0);
  k = 0;
  ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
  ctx.beginPath();
  pictures.forEach((layer, l) => layer.forEach((_, i) => {
    const [x, y] = position(l, i);
    ctx.drawImage(atlas, size * k, 0, size, size, x, y, box, box);
    ctx.rect(x, y, box, box);
    k += 1;
  }));
  ctx.stroke();
  ctx.fillStyle = "#555"; ctx.font = "11px system-ui, sans-serif";
  ready.config.features.forEach((name, i) => {
    const [x, y] = position(0, i);
    if (box >= 14) ctx.fillText(Playground.schema.features[name], x + box + 3, y + 10);
  });
}

// Training (grey) and test (blue) loss against the step. The vertical scale is logarithmic
// when the losses span more than three decades (a divergence's climb), so that the start is
// not flattened into the floor; the scale's ends are written at its top and bottom.
function drawLossChart() {
  const canvas = document.getElementById("loss-chart"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const curve = Net.curve, diverged = Net.frame && Net.frame.diverged;
  if (!curve.length) return;
  const lastStep = Math.max(curve[curve.length - 1][0], diverged ? diverged.step : 0);
  let top = -Infinity, bottom = Infinity;
  for (const [, a, b] of curve) { top = Math.max(top, a, b); bottom = Math.min(bottom, a, b); }
  const log = bottom > 0 && top / bottom > 1000;
  if (!log) { bottom = Math.min(0, bottom); if (top === bottom) top = bottom + 1; }
  const scale = log ? Math.log : (v) => v, lo = scale(bottom), hi = scale(top);
  const left = 4, right = canvas.width - 4, upper = 12, lower = canvas.height - 12;
  const x = (s) => left + (right - left) * s / (lastStep || 1);
  const y = (v) => lower - (lower - upper) * (scale(v) - lo) / (hi - lo);
  for (const [index, colour] of [[1, "#555"], [2, "#0877bd"]]) {
    ctx.beginPath();
    curve.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[index])) : ctx.moveTo(x(p[0]), y(p[index]))));
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.stroke();
    const last = curve[curve.length - 1];  // the value now (at step 0, the only one)
    ctx.fillStyle = colour; ctx.beginPath(); ctx.arc(x(last[0]), y(last[index]), 2.5, 0, 2 * Math.PI); ctx.fill();
  }
  ctx.fillStyle = "#777"; ctx.font = "10px system-ui, sans-serif";
  ctx.fillText(formatNumber(top) + (log ? "  (log scale)" : ""), left, upper - 2);
  ctx.fillText(formatNumber(bottom), left, canvas.height - 2);
  ctx.textAlign = "right";
  ctx.fillText(`step ${lastStep}`, right, canvas.height - 2);
  if (diverged) {  // where the guard stopped the run
    const at = x(diverged.step);
    ctx.strokeStyle = "#c0392b"; ctx.setLineDash([3, 3]); ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(at, upper); ctx.lineTo(at, lower); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = "#c0392b"; ctx.fillText("diverged", at - 3, upper + 10);
  }
  ctx.textAlign = "left";
}

function showFrame(frame) {
  Net.frame = frame;
  Net.framesShown += 1;
  Net.unanswered += 1;
  document.getElementById("step-count").textContent = frame.step;
  document.getElementById("epoch-count").textContent = formatNumber(frame.epoch);
  document.getElementById("lr-now").textContent = formatNumber(frame.lr);
  document.getElementById("train-loss").textContent = formatNumber(frame.train_loss);
  document.getElementById("test-loss").textContent = formatNumber(frame.test_loss);
  for (const point of frame.curve) {  // the points the server added since the last frame
    Net.curve.push(point);
    if (Net.curve.length > 2000) Net.curve = Net.curve.filter((_, i) => i % 2 === 0);
  }
  const banner = document.getElementById("diverged");
  if (frame.diverged) {
    banner.hidden = false;
    banner.textContent = `Step ${frame.diverged.step}, η = ${formatNumber(frame.diverged.lr)}: ` +
      `${frame.diverged.message} The pictures and the losses beside them are the last finite network, ` +
      "the one the guard kept; the curves go on to where training went.";
  } else banner.hidden = true;
  setPlaying(frame.playing);
  if (Net.drawing) return;  // the drawing already scheduled will show this newer frame
  Net.drawing = true;
  requestAnimationFrame(() => {
    Net.drawing = false;
    drawBoundary(); drawNetwork(); drawLossChart();
    Net.framesDrawn += 1;
    // every frame received is answered, drawn or replaced by a newer one: the server keeps
    // at most two frames unanswered, so it computes the next while this one is drawn
    for (; Net.unanswered > 0; Net.unanswered--) send({ type: "drawn" });
  });
}

function setPlaying(playing) {
  Net.playing = playing;
  const button = document.getElementById("play");
  button.textContent = playing ? "❚❚ pause" : "▶ play";
  button.dataset.playing = playing ? "yes" : "no";
}

// ---- wiring ---------------------------------------------------------------------------------
on("hello", (message) => {
  buildControls(message.schema);
  // the link's settings: the server keeps the valid ones and names each one it left out
  clearError();
  send({ type: "config", config: configFromUrl(), from_link: true });
});

on("ready", (message) => {
  Net.ready = message;
  Net.config = message.config;
  Net.curve = [];
  setControls(message.config);
  saveToUrl(message.config);
  document.getElementById("equation").textContent = message.equation.join("\n");
  document.getElementById("sizes").textContent = message.sizes.join("–");
  document.getElementById("csv-name").textContent = message.csv_name ? `uploaded: ${message.csv_name}` : "";
});

on("frame", showFrame);
on("status", (message) => setPlaying(message.playing));
on("export", download);
on("uploaded", (message) => {
  document.getElementById("csv-name").textContent = `uploaded: ${message.name} (${message.rows} rows)`;
  sendConfig({ ...readControls(), dataset: "csv" });
});
on("error", () => {
  // a refused configuration: put the controls back to the one that runs; if there is none yet
  // (the link's settings could not be built at all), start from the defaults
  if (Net.config) setControls(Net.config);
  else if (!Net.fellBack) { Net.fellBack = true; send({ type: "config", config: {} }); }
});

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("play").addEventListener("click", () => send({ type: Net.playing ? "pause" : "play" }));
  document.getElementById("step").addEventListener("click", () => send({ type: "step" }));
  document.getElementById("reset").addEventListener("click", () => { clearError(); send({ type: "reset" }); });
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => send({ type: "export", what: button.dataset.export }));
  }
  document.getElementById("add-layer").addEventListener("click", () => {
    const config = readControls();
    config.hidden.push(config.hidden.length ? config.hidden[config.hidden.length - 1] : 4);
    sendConfig(config);
  });
  document.getElementById("remove-layer").addEventListener("click", () => {
    const config = readControls();
    config.hidden.pop();
    sendConfig(config);
  });
  document.getElementById("preset").addEventListener("change", (event) => {
    const name = event.target.value;
    if (!name) return;
    const preset = Playground.schema.presets[name];
    document.getElementById("preset-why").textContent = preset.why;
    sendConfig({ ...Playground.schema.defaults, ...preset.config });
  });
  document.getElementById("csv-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (!file) return;
    if (file.size > Playground.uploadLimit) {
      showError(`${file.name} is larger than the limit of ${Playground.uploadLimit / 1000} kB`);
      return;
    }
    file.text().then((text) => send({ type: "upload", name: file.name, text }));
    event.target.value = "";
  });
});

// descend playground, Landscape tab: contours, optimizer races, searches at equal budget, basins.
"use strict";

const Land = {
  info: null,        // the "describe" answer: domain, shade, minima, suggested lrs
  start: null,
  race: null, raceShown: 0,   // the race answer and how many steps the animation has drawn
  search: null, searchShown: 0,  // the search answer and how many evaluations are drawn
  basins: null,
  shade: document.createElement("canvas"),
  animation: null,          // the race's requestAnimationFrame handle
  searchAnimation: null,    // the searches' (both may run at once)
};
// An animation lasts about three seconds (180 frames at 60 frames per second).
const ANIMATION_FRAMES = 180;
// Strong colours for the racing optimizers, dark ones (dashed) for the gradient-free searches,
// pale ones for the basins underneath, so the three never share a colour.
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#f032e6", "#008080", "#9a6324"];
const SEARCH_COLOURS = ["#000000", "#555555", "#8b4513", "#2f4f4f", "#556b2f"];
const BASIN_COLOURS = ["#fde0dd", "#d9f0d3", "#dbe9f6", "#fee8c8", "#e7d4e8", "#d0f0f0", "#f6e8c3", "#e0e0e0"];
const DEFAULT_RACE = ["sgd", "momentum", "adam"];

function toCanvas(point) {
  const canvas = document.getElementById("land-canvas"), [[x0, x1], [y0, y1]] = Land.info.domain;
  return [(point[0] - x0) / (x1 - x0) * canvas.width, (y1 - point[1]) / (y1 - y0) * canvas.height];
}

function fromCanvas(px, py) {
  const canvas = document.getElementById("land-canvas"), [[x0, x1], [y0, y1]] = Land.info.domain;
  return [x0 + px / canvas.width * (x1 - x0), y1 - py / canvas.height * (y1 - y0)];
}

function drawLandscape() {
  const canvas = document.getElementById("land-canvas"), ctx = canvas.getContext("2d");
  if (!Land.info) return;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(Land.shade, 0, 0, canvas.width, canvas.height);
  if (Land.basins) drawBasins(ctx, canvas);
  if (Land.search) {
    Land.search.runs.forEach((run, r) => {
      const colour = SEARCH_COLOURS[r % SEARCH_COLOURS.length];
      const shown = searchIndex(run, Land.searchShown) + 1;  // path points evaluated so far
      if (run.method === "random search") {
        ctx.fillStyle = colour;
        for (const p of run.path.slice(0, shown)) {
          if (p[0] === null || p[1] === null) continue;
          const [x, y] = toCanvas(p); ctx.fillRect(x - 1, y - 1, 2, 2);
        }
      } else {
        ctx.setLineDash([4, 3]);
        drawPath(ctx, run.path, colour, shown);
        ctx.setLineDash([]);
      }
    });
  }
  if (Land.race) {
    Land.race.runs.forEach((run, r) => drawPath(ctx, run.path, COLOURS[r % COLOURS.length], Land.raceShown + 1));
  }
  Land.info.minima.forEach((m, index) => {
    const [x, y] = toCanvas(m.x);
    // with a basin map shown, each minimum wears its basin's colour (the legend's key)
    ctx.fillStyle = Land.basins ? BASIN_COLOURS[index % BASIN_COLOURS.length] : "#fff";
    ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5;
    ctx.beginPath();
    if (m.global) {
      for (let k = 0; k < 10; k++) {
        const radius = k % 2 ? 3 : 8, angle = Math.PI / 5 * k - Math.PI / 2;
        ctx.lineTo(x + radius * Math.cos(angle), y + radius * Math.sin(angle));
      }
      ctx.closePath(); ctx.fill(); ctx.stroke();
    } else { ctx.arc(x, y, 5, 0, 2 * Math.PI); if (Land.basins) ctx.fill(); ctx.stroke(); }
  });
  if (Land.start) {
    const [x, y] = toCanvas(Land.start);
    ctx.fillStyle = "#000"; ctx.beginPath(); ctx.arc(x, y, 4, 0, 2 * Math.PI); ctx.fill();
  }
}

function drawPath(ctx, path, colour, upto) {
  ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
  let started = false;
  for (let i = 0; i < Math.min(upto, path.length); i++) {
    if (path[i][0] === null || path[i][1] === null) break;
    const [x, y] = toCanvas(path[i]);
    if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
  }
  ctx.stroke();
  const last = path[Math.min(upto, path.length) - 1];
  if (last && last[0] !== null) {
    const [x, y] = toCanvas(last);
    ctx.fillStyle = colour; ctx.beginPath(); ctx.arc(x, y, 3.5, 0, 2 * Math.PI); ctx.fill();
  }
}

function drawBasins(ctx, canvas) {
  const { labels, resolution } = Land.basins, values = decodeBytes(labels, true);
  const cell = document.createElement("canvas");
  cell.width = resolution; cell.height = resolution;
  const cctx = cell.getContext("2d"), image = cctx.createImageData(resolution, resolution);
  for (let i = 0; i < values.length; i++) {
    const label = values[i], colour = label < 0 ? "#000000" : BASIN_COLOURS[label % BASIN_COLOURS.length];
    image.data[4 * i] = parseInt(colour.slice(1, 3), 16);
    image.data[4 * i + 1] = parseInt(colour.slice(3, 5), 16);
    image.data[4 * i + 2] = parseInt(colour.slice(5, 7), 16);
    image.data[4 * i + 3] = label < 0 ? 90 : 115;
  }
  cctx.putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cell, 0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = true;
}

function raceOptimizers() {
  return [...document.querySelectorAll("#race-opts input[type=checkbox]:checked")].map((i) => i.value);
}

function startRace() {
  if (!Land.start) { showError("landscape: click the picture to place a start first"); return; }
  const lrs = {};
  for (const input of document.querySelectorAll("#race-opts input[type=number]")) {
    if (input.value !== "") lrs[input.dataset.optimizer] = Number(input.value);
  }
  send({ type: "landscape", action: "race", function: Land.info.function, start: Land.start,
    optimizers: raceOptimizers(), steps: Number(document.getElementById("race-steps").value), lrs });
}

// A table row of cells: a colour swatch, then the texts (set as text, never as HTML).
function tableRow(colour, cells, liveCell, liveClass = "race-step") {
  const row = document.createElement("tr"), first = document.createElement("td");
  const swatch = document.createElement("span");
  swatch.className = "swatch"; swatch.style.background = colour;
  first.appendChild(swatch);
  row.appendChild(first);
  cells.forEach((text, i) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (i === liveCell) cell.className = liveClass;  // the counter the animation advances
    row.appendChild(cell);
  });
  return row;
}

// Why a run ended, in a word or two (the whole message is the cell's tooltip): a run that
// diverged must not look like one that merely stopped early.
function stopReason(run) {
  if (run.message.startsWith("diverged")) return "diverged";
  if (run.message.startsWith("maximum number")) return "step limit";
  if (run.message.startsWith("gradient norm")) return "converged";
  return run.message.split(" ")[0];
}

function raceRow(run, r, k) {
  const i = Math.min(k, run.path.length - 1), done = k >= run.path.length - 1;
  const row = tableRow(COLOURS[r % COLOURS.length],
    [run.optimizer, formatNumber(run.lr), String(i), String(run.evaluations[i]), formatNumber(run.values[i]),
      done ? stopReason(run) : "…"], 2);
  row.lastChild.title = run.message;
  if (done && run.message.startsWith("diverged")) row.lastChild.className = "diverged-cell";
  return row;
}

function animateRace() {
  cancelAnimationFrame(Land.animation);
  const longest = Math.max(...Land.race.runs.map((run) => run.path.length));
  const perFrame = Math.max(1, Math.ceil(longest / ANIMATION_FRAMES));
  Land.raceShown = 0;
  const tick = () => {
    Land.raceShown = Math.min(longest, Land.raceShown + perFrame);
    const body = document.querySelector("#race-table tbody");
    body.replaceChildren(...Land.race.runs.map((run, r) => raceRow(run, r, Land.raceShown)));
    drawLandscape();
    if (Land.raceShown < longest) Land.animation = requestAnimationFrame(tick);
  };
  tick();
}

// The last point of a search's path that had been evaluated once `evaluations` were spent.
// The searches share one clock, the evaluations, so at every moment of the animation each
// has spent the same budget: that is the comparison the table makes.
function searchIndex(run, evaluations) {
  let lo = 0, hi = run.evaluations.length - 1;
  if (hi < 0 || run.evaluations[0] > evaluations) return -1;
  while (lo < hi) {  // the largest i with run.evaluations[i] <= evaluations
    const mid = (lo + hi + 1) >> 1;
    if (run.evaluations[mid] <= evaluations) lo = mid; else hi = mid - 1;
  }
  return lo;
}

function searchRow(run, r, evaluations) {
  const i = searchIndex(run, evaluations);
  const spent = i < 0 ? 0 : run.evaluations[i];
  // a gradient-based method took one gradient with each evaluation (njev of nfev in all)
  const gradients = run.nfev ? Math.round(run.njev * spent / run.nfev) : 0;
  return tableRow(SEARCH_COLOURS[r % SEARCH_COLOURS.length],
    [run.method, String(spent), String(gradients), i < 0 ? "–" : formatNumber(run.best[i])], 1, "search-evaluations");
}

function animateSearch() {
  cancelAnimationFrame(Land.searchAnimation);
  const total = Math.max(...Land.search.runs.map((run) => run.nfev));
  const perFrame = Math.max(1, Math.ceil(total / ANIMATION_FRAMES));
  Land.searchShown = 0;
  const tick = () => {
    Land.searchShown = Math.min(total, Land.searchShown + perFrame);
    document.querySelector("#search-table tbody").replaceChildren(
      ...Land.search.runs.map((run, r) => searchRow(run, r, Land.searchShown)));
    drawLandscape();
    if (Land.searchShown < total) Land.searchAnimation = requestAnimationFrame(tick);
  };
  tick();
}

on("hello", (message) => {
  const select = document.getElementById("land-fn");
  for (const name of message.landscapes) option(select, name);
  const params = new URLSearchParams(location.search);
  select.value = message.landscapes.includes(params.get("function")) ? params.get("function") : "himmelblau";
  const opts = document.getElementById("race-opts"), basinOpt = document.getElementById("basin-opt");
  for (const name of Object.keys(message.schema.optimizers)) {
    const label = document.createElement("label"), box = document.createElement("input");
    const lr = document.createElement("input");
    box.type = "checkbox"; box.value = name; box.id = `race-${name}`; box.checked = DEFAULT_RACE.includes(name);
    lr.type = "number"; lr.step = "any"; lr.placeholder = "η"; lr.dataset.optimizer = name;
    lr.title = "learning rate (empty: the function's suggestion)";
    label.append(box, ` ${name} `, lr);
    opts.appendChild(label);
    if (name !== "lbfgs") option(basinOpt, name);
  }
  send({ type: "landscape", action: "describe", function: select.value });
});

on("landscape", (message) => {
  if (message.action === "describe") {
    cancelAnimationFrame(Land.animation); cancelAnimationFrame(Land.searchAnimation);
    Land.info = message; Land.race = Land.search = Land.basins = null;
    // keep the function's aspect ratio: one unit is as long across as up
    const canvas = document.getElementById("land-canvas"), [[x0, x1], [y0, y1]] = message.domain;
    canvas.height = Math.round(canvas.width * Math.min(1.5, Math.max(0.4, (y1 - y0) / (x1 - x0))));
    Land.start = message.start.length === 2 ? message.start : null;
    document.getElementById("land-start").textContent = Land.start ? Land.start.map(formatNumber).join(", ") : "–";
    document.getElementById("land-formula").textContent = `${message.title}: ${message.formula}`;
    const values = decodeBytes(message.shade, false);
    Land.shade.width = message.grid; Land.shade.height = message.grid;
    const ctx = Land.shade.getContext("2d"), image = ctx.createImageData(message.grid, message.grid);
    for (let i = 0; i < values.length; i++) {
      // low values dark blue, high values pale: the valleys stand out; bands every 1/12 as contours
      const t = values[i] / 255, band = Math.floor(t * 12) % 2 ? 0.93 : 1;
      image.data[4 * i] = (40 + 200 * t) * band; image.data[4 * i + 1] = (70 + 170 * t) * band;
      image.data[4 * i + 2] = (120 + 120 * t) * band; image.data[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    document.querySelector("#race-table tbody").textContent = "";
    document.querySelector("#search-table tbody").textContent = "";
    document.getElementById("basin-share").textContent = "";
    drawLandscape();
  } else if (message.action === "race") {
    Land.race = message;
    animateRace();
  } else if (message.action === "search") {
    Land.search = message;
    animateSearch();
  } else if (message.action === "basins") {
    Land.basins = message;
    const box = document.getElementById("basin-share");
    box.textContent = `${message.optimizer}, η = ${formatNumber(message.lr)}: ` +
      `${(100 * message.global_share).toFixed(1)}% of the starts reach a global minimum. `;
    Land.info.minima.forEach((m, k) => {
      const share = message.shares[String(k)] || 0, item = document.createElement("div");
      const swatch = document.createElement("span");
      swatch.className = "swatch"; swatch.style.background = BASIN_COLOURS[k % BASIN_COLOURS.length];
      swatch.style.border = "1px solid #000";
      item.append(swatch, ` (${m.x.map(formatNumber).join(", ")}) ${m.global ? "global" : "local"}: ` +
        `${(100 * share).toFixed(1)}%`);
      box.appendChild(item);
    });
    // Starts that settled in a minimum the landscape does not list (Rastrigin lists only its
    // global one) are not failures: say so apart from the ones that diverged.
    const unlabelled = message.shares["-1"] || 0, diverged = message.diverged_share || 0;
    const elsewhere = document.createElement("div");
    elsewhere.textContent = "another minimum, or still moving after the steps: " +
      `${(100 * Math.max(unlabelled - diverged, 0)).toFixed(1)}%`;
    const blown = document.createElement("div");
    blown.textContent = `diverged: ${(100 * diverged).toFixed(1)}%`;
    box.append(elsewhere, blown);
    drawLandscape();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("land-fn").addEventListener("change", (event) => {
    const params = new URLSearchParams(location.search);
    params.set("function", event.target.value);
    history.replaceState(null, "", `?${params}`);
    send({ type: "landscape", action: "describe", function: event.target.value });
  });
  document.getElementById("land-canvas").addEventListener("click", (event) => {
    if (!Land.info) return;
    const rect = event.target.getBoundingClientRect();
    const scale = event.target.width / rect.width;
    Land.start = fromCanvas((event.clientX - rect.left) * scale, (event.clientY - rect.top) * scale);
    document.getElementById("land-start").textContent = Land.start.map(formatNumber).join(", ");
    cancelAnimationFrame(Land.searchAnimation);
    Land.search = null;
    document.querySelector("#search-table tbody").textContent = "";
    startRace();
  });
  document.getElementById("race").addEventListener("click", startRace);
  document.getElementById("search").addEventListener("click", () => {
    if (!Land.start) { showError("landscape: click the picture to place a start first"); return; }
    send({ type: "landscape", action: "search", function: Land.info.function, start: Land.start,
      budget: Number(document.getElementById("search-budget").value) });
  });
  document.getElementById("basins").addEventListener("click", () => {
    const lr = document.getElementById("basin-lr").value;
    send({ type: "landscape", action: "basins", function: Land.info.function,
      optimizer: document.getElementById("basin-opt").value, lr: lr === "" ? null : Number(lr),
      steps: Number(document.getElementById("basin-steps").value), resolution: 60 });
  });
});

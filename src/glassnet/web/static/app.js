// glassnet serve: the drawing pad, the requests to /api/predict, and the pictures of the answer.
// Plain JS, no library. The pad keeps strokes (for undo); the picture sent is the pad's gray
// pixels at half size as JSON {"image": rows}: the server prepares it the MNIST way (images.to_mnist).
"use strict";

const SIZE = 280;                 // the pad's own pixels (CSS scales it)
const LINE = 24;                  // pen width in pad pixels: ~1/8 of a digit's height, as MNIST's strokes
const SEND = 140;                 // the picture sent: SEND x SEND gray levels
const $ = (id) => document.getElementById(id);
const pad = $("pad"), ctx = pad.getContext("2d");
const penCtx = $("pen").getContext("2d");
const state = { strokes: [], current: null, upload: null, dirty: false, busy: false,
                models: [], pen: { x: SIZE / 2, y: SIZE / 2, down: false, shown: false } };

// -- drawing ---------------------------------------------------------------------------------------
function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, SIZE, SIZE);
  if (state.upload) {
    const img = state.upload.bitmap, s = Math.min(SIZE / img.width, SIZE / img.height);
    ctx.drawImage(img, (SIZE - img.width * s) / 2, (SIZE - img.height * s) / 2, img.width * s, img.height * s);
  }
  ctx.strokeStyle = ctx.fillStyle = "#000";
  ctx.lineWidth = LINE;
  ctx.lineCap = ctx.lineJoin = "round";
  for (const stroke of state.strokes) {
    ctx.beginPath();
    ctx.arc(stroke[0].x, stroke[0].y, LINE / 2, 0, 2 * Math.PI);   // a dot for a single click
    ctx.fill();
    ctx.beginPath();
    stroke.forEach((p, i) => (i ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
    ctx.stroke();
  }
  document.body.classList.toggle("drawn", state.strokes.length > 0 || !!state.upload);
}

function padPoint(event) {
  const r = pad.getBoundingClientRect();
  return { x: (event.clientX - r.left) * SIZE / r.width, y: (event.clientY - r.top) * SIZE / r.height };
}

function startStroke(p) {
  state.upload = null;
  state.current = [p];
  state.strokes.push(state.current);
  changed();
}

function extendStroke(p) {
  if (!state.current) return;
  state.current.push(p);
  changed();
}

function changed() {
  redraw();
  predict();
}

pad.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  startStroke(padPoint(e));
});
pad.addEventListener("pointermove", (e) => {
  if (state.current && !state.pen.down) {
    for (const ev of e.getCoalescedEvents ? e.getCoalescedEvents() : [e]) state.current.push(padPoint(ev));
    changed();
  }
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => { if (!state.pen.down) state.current = null; });
}

function undo() {
  if (state.upload) state.upload = null; else state.strokes.pop();
  state.current = null;
  state.pen.down = false;
  afterEdit();
}

function clearPad() {
  state.strokes = [];
  state.upload = null;
  state.current = null;
  state.pen.down = false;
  afterEdit();
}

function afterEdit() {
  redraw();
  drawPen();
  if (state.strokes.length || state.upload) predict(); else showEmpty();
}

$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", clearPad);

// -- keyboard: a pen moved with the arrow keys -----------------------------------------------------
function drawPen() {
  penCtx.clearRect(0, 0, SIZE, SIZE);
  if (!state.pen.shown) return;
  penCtx.strokeStyle = state.pen.down ? "#e0592a" : "#2f6fdf";
  penCtx.lineWidth = 3;
  penCtx.beginPath();
  penCtx.arc(state.pen.x, state.pen.y, LINE / 2 + 3, 0, 2 * Math.PI);
  penCtx.stroke();
}

pad.addEventListener("focus", () => { state.pen.shown = true; drawPen(); });
pad.addEventListener("blur", () => { state.pen.shown = false; state.pen.down = false; state.current = null; drawPen(); });
pad.addEventListener("keydown", (e) => {
  const step = e.shiftKey ? 3 : 12, pen = state.pen;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (moves[e.key]) {
    pen.x = Math.min(SIZE - 4, Math.max(4, pen.x + moves[e.key][0]));
    pen.y = Math.min(SIZE - 4, Math.max(4, pen.y + moves[e.key][1]));
    if (pen.down) extendStroke({ x: pen.x, y: pen.y });
  } else if (e.key === " " || e.key === "Enter") {
    pen.down = !pen.down;
    if (pen.down) startStroke({ x: pen.x, y: pen.y }); else state.current = null;
  } else if (e.key === "Escape") {
    pen.down = false;
    state.current = null;
  } else if (e.key === "u" || e.key === "U") {
    undo();
  } else if (e.key === "c" || e.key === "C") {
    clearPad();
  } else {
    return;
  }
  e.preventDefault();
  drawPen();
});
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "z" && !(e.target instanceof HTMLInputElement)) {
    e.preventDefault();
    undo();
  }
});

// -- upload ------------------------------------------------------------------------------------------
$("upload-label").addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("upload").click(); }
});
$("upload").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  let bitmap = null;
  try { bitmap = await createImageBitmap(file); } catch (err) { /* the server says what is wrong */ }
  state.strokes = [];
  state.current = null;
  state.upload = bitmap ? { bitmap, file } : null;
  redraw();
  send(file, file.type || "application/octet-stream", file.name);
});

// -- talking to the server ------------------------------------------------------------------------------
function picture() {
  // The pad at SEND x SEND as rows of gray levels 0..255 (dark ink on white).
  const small = document.createElement("canvas");
  small.width = small.height = SEND;
  const c = small.getContext("2d");
  c.imageSmoothingQuality = "high";
  c.drawImage(pad, 0, 0, SEND, SEND);
  const px = c.getImageData(0, 0, SEND, SEND).data, rows = [];
  for (let y = 0; y < SEND; y++) {
    const row = new Array(SEND);
    for (let x = 0; x < SEND; x++) {
      const i = 4 * (y * SEND + x);
      row[x] = Math.round(0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]);
    }
    rows.push(row);
  }
  return JSON.stringify({ image: rows });
}

function predict() {
  // Live while drawing: at most one request in flight; the latest drawing is sent when it returns.
  if (!state.strokes.length && !state.upload) return;
  if (state.busy) { state.dirty = true; return; }
  if (state.upload && !state.strokes.length) {
    send(state.upload.file, state.upload.file.type, state.upload.file.name);
  } else {
    send(picture(), "application/json");
  }
}

async function send(body, type, filename) {
  state.busy = true;
  state.dirty = false;
  document.body.dataset.state = "busy";
  const model = $("model").value;
  try {
    const response = await fetch(`/api/predict?model=${encodeURIComponent(model)}`,
                                 { method: "POST", headers: { "Content-Type": type }, body });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error || `HTTP ${response.status}`);
    if (state.strokes.length || state.upload) show(result);
    $("status").textContent = filename ? `${filename}: read as ${result.label}` : "";
  } catch (err) {
    $("status").textContent = (filename ? `${filename}: ` : "") + err.message;
    if (filename) showEmpty();
  } finally {
    state.busy = false;
    if (state.dirty) predict(); else document.body.dataset.state = "idle";
  }
}

// -- showing the answer ------------------------------------------------------------------------------
const RAMP = [[0, 0, 4], [120, 28, 109], [237, 105, 37], [252, 255, 164]];   // dark -> bright

function colour(v) {
  // v in [0, 1] -> [r, g, b] along RAMP (an inferno-like scale: bright = strongly active).
  const t = Math.min(1, Math.max(0, v)) * (RAMP.length - 1), i = Math.min(Math.floor(t), RAMP.length - 2);
  const f = t - i;
  return RAMP[i].map((c, k) => Math.round(c + f * (RAMP[i + 1][k] - c)));
}

function paint(canvas, h, w, value, scale) {
  // value(y, x) -> the pixel at (y, x); scale: divide by it (the layer's largest value), or 0 for gray.
  const c = canvas.getContext("2d"), img = c.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = value(y, x), i = 4 * (y * w + x);
      const rgb = scale ? colour(v / scale) : [255 * v, 255 * v, 255 * v];
      img.data.set([...rgb, 255], i);
    }
  }
  c.putImageData(img, 0, 0);
}

function buildBars() {
  const bars = $("bars");
  for (let k = 0; k < 10; k++) {
    const li = document.createElement("li");
    li.innerHTML = `<span class="k">${k}</span><span class="track"><span class="fill"></span></span><span class="pct">–</span>`;
    bars.appendChild(li);
  }
}

function show(r) {
  const verdict = $("verdict");
  verdict.dataset.label = r.label;
  verdict.dataset.model = r.model;
  $("digit").textContent = r.label;
  $("mini").textContent = `${r.label} · ${Math.round(100 * r.probability)}%`;
  $("prob").textContent = `${Math.round(100 * r.probability)}% sure`;
  [...$("bars").children].forEach((li, k) => {
    const p = r.probabilities[k];
    li.classList.toggle("top", k === r.label);
    li.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector(".pct").textContent = `${(100 * p).toFixed(1)}%`;
    li.setAttribute("aria-label", `${k}: ${(100 * p).toFixed(1)} percent`);
  });
  $("timing").textContent = `${r.model}: forward pass ${r.inference_ms.toFixed(2)} ms on the server`;
  paint($("input28"), 28, 28, (y, x) => r.input[y][x], 0);
  showLayers(r.layers);
}

function showLayers(layers) {
  const box = $("layers");
  box.replaceChildren();
  layers.forEach((layer, n) => {
    const div = document.createElement("div"), h3 = document.createElement("h3");
    div.className = "layer";
    const act = layer.activation && layer.activation !== "linear" ? `, ${layer.activation}` : "";
    const last = n === layers.length - 1;
    h3.innerHTML = `${layer.name} <small>${layer.class_name}${act} · output ${layer.shape.join(" × ")}</small>`;
    div.appendChild(h3);
    if (layer.shape.length === 3) {
      div.appendChild(featureMaps(layer));
    } else if (last) {
      div.appendChild(scoreRow(layer.values));
    } else if (layer.class_name === "Flatten") {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "the maps above, laid out in one row for the Dense layer";
      div.appendChild(p);
    } else {
      div.appendChild(unitGrid(layer.values));
      const active = layer.values.filter((v) => v > 0).length;
      h3.querySelector("small").textContent += ` · ${active} of ${layer.values.length} units active`;
    }
    box.appendChild(div);
  });
}

function layerMax(values) {
  let m = 0;
  const walk = (a) => { for (const v of a) { if (Array.isArray(v)) walk(v); else if (v > m) m = v; } };
  walk(values);
  return m || 1;
}

function featureMaps(layer) {
  // values: H x W x F (channels last) -> F small pictures, one colour scale for the whole layer.
  const [h, w, f] = layer.shape, v = layer.values, scale = layerMax(v), maps = document.createElement("div");
  maps.className = "maps";
  for (let k = 0; k < f; k++) {
    const c = document.createElement("canvas");
    c.width = w;
    c.height = h;
    c.title = `${layer.name}, map ${k + 1}`;
    paint(c, h, w, (y, x) => Math.max(0, v[y][x][k]), scale);
    maps.appendChild(c);
  }
  return maps;
}

function unitGrid(values) {
  const scale = layerMax(values), grid = document.createElement("div");
  grid.className = "units";
  values.forEach((v, i) => {
    const s = document.createElement("span");
    s.style.background = `rgb(${colour(Math.max(0, v) / scale).join(",")})`;
    s.title = `unit ${i}: ${v.toFixed(3)}`;
    grid.appendChild(s);
  });
  return grid;
}

function scoreRow(values) {
  const scale = layerMax(values), row = document.createElement("div");
  row.className = "scores";
  values.forEach((v, k) => {
    const s = document.createElement("span"), rgb = colour(Math.max(0, v) / scale);
    s.style.background = `rgb(${rgb.join(",")})`;
    s.style.color = rgb[1] > 150 ? "#000" : "#fff";
    s.textContent = k;
    s.title = `score for ${k}: ${v.toFixed(4)}`;
    row.appendChild(s);
  });
  return row;
}

function showEmpty() {
  const verdict = $("verdict");
  delete verdict.dataset.label;
  $("digit").textContent = "?";
  $("mini").textContent = "";
  $("prob").textContent = "draw a digit";
  for (const li of $("bars").children) {
    li.classList.remove("top");
    li.querySelector(".fill").style.width = "0";
    li.querySelector(".pct").textContent = "–";
  }
  $("timing").textContent = "";
  $("input28").getContext("2d").clearRect(0, 0, 28, 28);
  $("layers").innerHTML = '<p class="empty">Each layer\'s output appears here.</p>';
  document.body.dataset.state = "idle";
}

// -- models --------------------------------------------------------------------------------------------
function describe() {
  const m = state.models.find((x) => x.name === $("model").value);
  if (!m) return;
  const acc = m.test_accuracy ? ` Test accuracy ${(100 * m.test_accuracy).toFixed(1)}%.` : "";
  $("model-info").textContent = `${m.description}; ${m.params.toLocaleString("en")} weights.${acc}`;
}

async function loadModels() {
  try {
    const response = await fetch("/api/models");
    const data = await response.json();
    state.models = data.models;
    for (const m of data.models) {
      const option = document.createElement("option");
      option.value = m.name;
      option.textContent = `${m.name} (${m.kind === "cnn" ? "CNN" : "MLP"})`;
      $("model").appendChild(option);
    }
    $("model").value = data.default;
    describe();
    document.body.dataset.state = "idle";
  } catch (err) {
    $("status").textContent = `cannot reach the server: ${err.message}`;
  }
}

$("model").addEventListener("change", () => { describe(); predict(); });

buildBars();
redraw();
loadModels();

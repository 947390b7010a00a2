// Drawing the API's answers: spectrogram and attention canvases, the caption's heat map.
// Every text that came from a user or a model is set with textContent, never as markup.
"use strict";

const GUTTER = 44; // px left of every time axis, so the spectrogram and attention line up

function colormap(stops) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (stops.length - 1);
    const k = Math.min(Math.floor(x), stops.length - 2);
    const f = x - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = stops[k][c] + f * (stops[k + 1][c] - stops[k][c]);
  }
  return lut;
}
const MAGMA = colormap([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]]);
const VIRIDIS = colormap([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]);

function cssColor(lut, v) {
  const i = Math.max(0, Math.min(255, Math.round(v * 255))) * 3;
  return `rgb(${lut[i]}, ${lut[i + 1]}, ${lut[i + 2]})`;
}

function decodeHeatmap(h) {
  const bin = atob(h.data);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// An offscreen canvas of the heat map, one pixel per cell; `flip` puts row 0 at the bottom,
// `normalise` scales each row by its own maximum.
function heatmapImage(h, lut, flip, normalise) {
  const values = decodeHeatmap(h);
  const img = new ImageData(h.cols, h.rows);
  for (let r = 0; r < h.rows; r++) {
    let peak = 255;
    if (normalise) {
      peak = 1;
      for (let c = 0; c < h.cols; c++) peak = Math.max(peak, values[r * h.cols + c]);
    }
    const y = flip ? h.rows - 1 - r : r;
    for (let c = 0; c < h.cols; c++) {
      const v = Math.round((values[r * h.cols + c] / peak) * 255) * 3;
      const o = (y * h.cols + c) * 4;
      img.data[o] = lut[v];
      img.data[o + 1] = lut[v + 1];
      img.data[o + 2] = lut[v + 2];
      img.data[o + 3] = 255;
    }
  }
  const canvas = document.createElement("canvas");
  canvas.width = h.cols;
  canvas.height = h.rows;
  canvas.getContext("2d").putImageData(img, 0, 0);
  return { canvas, values };
}

function sizeCanvas(canvas, height) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(200, canvas.parentElement.clientWidth);
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, width, height };
}

function drawTimeAxis(ctx, x0, width, y, duration) {
  const step = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120].find((s) => (width / duration) * s >= 60) || 300;
  ctx.fillStyle = "#555";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (let t = 0; t <= duration + 1e-9; t += step) {
    const x = x0 + (t / duration) * width;
    ctx.fillRect(x, y, 1, 4);
    ctx.fillText(`${+t.toFixed(2)} s`, x, y + 15);
  }
}

// The spectrogram with each word's span and label; with an attention map, each output unit is
// written along the bottom at the time the decoder attended to most when emitting it.
function drawSpectrogram(canvas, result, current, playhead) {
  const spec = result.spectrogram;
  const duration = Math.max(result.duration, spec.cols * spec.seconds_per_column, 1e-3);
  const plotH = 160;
  const { ctx, width } = sizeCanvas(canvas, plotH + 22);
  const w = width - GUTTER;
  const image = canvas._image || (canvas._image = heatmapImage(spec, MAGMA, true, false).canvas);
  ctx.clearRect(0, 0, width, plotH + 22);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(image, GUTTER, 0, (spec.cols * spec.seconds_per_column / duration) * w, plotH);
  ctx.fillStyle = "#555";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.fillText("high", GUTTER - 6, 12);
  ctx.fillText("mel", GUTTER - 6, plotH / 2 + 4);
  ctx.fillText("low", GUTTER - 6, plotH - 4);
  const x = (t) => GUTTER + (t / duration) * w;
  (result.words || []).forEach((word, i) => {
    if (i === current) {
      ctx.fillStyle = "rgba(255, 255, 255, 0.22)";
      ctx.fillRect(x(word.start), 0, x(word.end) - x(word.start), plotH);
    }
    ctx.fillStyle = "rgba(255, 255, 255, 0.55)";
    ctx.fillRect(x(word.start), 0, 1, plotH);
    ctx.fillRect(x(word.end), 0, 1, plotH);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.fillStyle = "#fff";
    ctx.shadowColor = "#000";
    ctx.shadowBlur = 3;
    ctx.fillText(word.word, (x(word.start) + x(word.end)) / 2, 14, Math.max(x(word.end) - x(word.start), 24));
    ctx.shadowBlur = 0;
  });
  const att = result.attention;
  if (att) {
    const values = canvas._attention || (canvas._attention = decodeHeatmap(att));
    ctx.font = "bold 12px ui-monospace, monospace";
    ctx.textAlign = "center";
    ctx.fillStyle = "#ffe66d";
    for (let r = 0; r < att.rows; r++) {
      let best = 0;
      for (let c = 1; c < att.cols; c++) if (values[r * att.cols + c] > values[r * att.cols + best]) best = c;
      const unit = att.units[r] === "<eos>" ? "·" : att.units[r];
      ctx.fillText(unit, x((best + 0.5) * att.seconds_per_column), plotH - 6);
    }
  }
  drawTimeAxis(ctx, GUTTER, w, plotH + 2, duration);
  if (playhead !== null && playhead !== undefined) {
    ctx.fillStyle = "#38bdf8";
    ctx.fillRect(x(playhead), 0, 2, plotH);
  }
}

// The attention decoder's alignment: a row per output unit over time, each row scaled by its
// own maximum, on the spectrogram's time axis.
function drawAttention(canvas, result, playhead) {
  const att = result.attention;
  const spec = result.spectrogram;
  const duration = Math.max(result.duration, spec.cols * spec.seconds_per_column, 1e-3);
  const rowH = Math.max(4, Math.min(14, Math.floor(480 / att.rows)));
  const plotH = rowH * att.rows;
  const { ctx, width } = sizeCanvas(canvas, plotH + 22);
  const w = width - GUTTER;
  const image = canvas._image || (canvas._image = heatmapImage(att, VIRIDIS, false, true).canvas);
  ctx.clearRect(0, 0, width, plotH + 22);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(image, GUTTER, 0, (att.cols * att.seconds_per_column / duration) * w, plotH);
  if (rowH >= 9) {
    ctx.fillStyle = "#333";
    ctx.font = `${Math.min(12, rowH)}px ui-monospace, monospace`;
    ctx.textAlign = "right";
    att.units.forEach((u, r) => ctx.fillText(u, GUTTER - 6, r * rowH + rowH - 2));
  }
  drawTimeAxis(ctx, GUTTER, w, plotH + 2, duration);
  if (playhead !== null && playhead !== undefined) {
    ctx.fillStyle = "#38bdf8";
    ctx.fillRect(GUTTER + (playhead / duration) * w, 0, 2, plotH);
  }
}

// The caption's attention as a table: a column per sampled frame (thumbnail and time), a row
// per word, each cell coloured by its weight (square root, so that weights spread evenly over
// the frames look dim and a peak stands out).
function fillCaptionTable(table, attention) {
  table.replaceChildren();
  const rows = [...attention.words, "(end)"].slice(0, attention.weights.length);
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement("th"));
  const thumbs = attention.frame_times.map((t) => {
    const th = document.createElement("th");
    th.className = "frame";
    const box = document.createElement("div");
    box.className = "thumb";
    const time = document.createElement("span");
    time.textContent = `${t.toFixed(1)} s`;
    th.append(box, time);
    head.appendChild(th);
    return box;
  });
  const body = table.createTBody();
  rows.forEach((word, r) => {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.textContent = word;
    th.scope = "row";
    tr.appendChild(th);
    attention.frame_times.forEach((_, c) => {
      const v = attention.weights[r][c] || 0;
      const td = tr.insertCell();
      td.textContent = v.toFixed(2).replace(/^0/, "");
      td.title = `"${word}" at ${attention.frame_times[c].toFixed(2)} s: ${v.toFixed(3)}`;
      td.style.background = cssColor(VIRIDIS, Math.sqrt(v));
      td.style.color = Math.sqrt(v) > 0.6 ? "#111" : "#eee";
    });
  });
  return thumbs;
}

function once(target, event, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event`)), ms);
    target.addEventListener(event, () => { clearTimeout(timer); resolve(); }, { once: true });
    target.addEventListener("error", () => { clearTimeout(timer); reject(new Error("cannot decode")); }, { once: true });
  });
}

// Thumbnails of the frames at `times`, drawn from a hidden copy of the video into `boxes`; a
// video the browser cannot play leaves the times alone.
async function captureFrames(url, times, boxes) {
  const video = document.createElement("video");
  video.muted = true;
  video.preload = "auto";
  video.src = url;
  try {
    await once(video, "loadeddata", 5000);
    for (let i = 0; i < times.length; i++) {
      video.currentTime = Math.min(times[i] + 0.001, Math.max(0, video.duration - 0.01));
      await once(video, "seeked", 3000);
      const canvas = document.createElement("canvas");
      canvas.width = 56;
      canvas.height = Math.round(56 * (video.videoHeight / video.videoWidth || 1));
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      boxes[i].appendChild(canvas);
    }
  } catch (err) {
    // thumbnails are a nicety: the table is complete without them
  } finally {
    video.removeAttribute("src");
    video.load();
  }
}

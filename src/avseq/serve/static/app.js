// The page: upload or record audio, drop a video, show what the API answers. Plain DOM, no
// build step; names and texts from users or models are set with textContent only.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { tasks: {}, limits: {}, classes: [], audioUrl: null, videoUrl: null, speech: null };

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
  "#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#9333ea"];

function oneLine(text) {
  return String(text).replace(/\s+/g, " ").trim().slice(0, 400);
}

function showError(el, message) {
  el.textContent = message ? oneLine(message) : "";
  el.hidden = !message;
}

function pretty(label) {
  return label.replace(/_/g, " ");
}

async function postFile(endpoint, file, fields = {}) {
  if (state.limits.max_upload_bytes && file.size > state.limits.max_upload_bytes) {
    throw new Error(`the file is ${(file.size / 1e6).toFixed(1)} MB; this server takes at most ` +
      `${state.limits.max_upload_bytes / 1e6} MB`);
  }
  const form = new FormData();
  form.append("file", file, file.name || "upload");
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  let response;
  try {
    response = await fetch(endpoint, { method: "POST", body: form });
  } catch (err) {
    throw new Error(`could not reach the server (${err.message})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) throw new Error((body && body.error) || `the server answered ${response.status}`);
  return body;
}

function wireDrop(zone, input, onFile) {
  input.addEventListener("change", () => {
    if (input.files.length) onFile(input.files[0]);
    input.value = "";
  });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) onFile(e.dataTransfer.files[0]);
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
}

// ---- speech ----

async function transcribeFile(file) {
  showError($("speech-error"), "");
  $("speech-status").textContent = `Transcribing ${file.name || "the recording"}…`;
  $("speech").classList.add("busy");
  try {
    const result = await postFile("/api/transcribe", file, { srt: "true" });
    showSpeech(file, result);
  } catch (err) {
    showError($("speech-error"), err.message);
  } finally {
    $("speech-status").textContent = "";
    $("speech").classList.remove("busy");
  }
}

function showSpeech(file, result) {
  if (state.audioUrl) URL.revokeObjectURL(state.audioUrl);
  state.audioUrl = URL.createObjectURL(file);
  state.speech = result;
  const audio = $("audio");
  audio.src = state.audioUrl;
  $("speech-name").textContent = file.name || "recording";
  const n = result.words ? result.words.length : 0;
  const count = result.words ? `${n} word${n === 1 ? "" : "s"}` : "no word times";
  $("speech-meta").textContent = `${result.duration.toFixed(2)} s · ${count}`;
  const transcript = $("transcript");
  transcript.replaceChildren();
  const note = $("transcript-note");
  note.hidden = true;
  if (result.words && result.words.length) {
    result.words.forEach((word, i) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "word";
      button.textContent = word.word;
      button.dataset.index = i;
      button.dataset.start = word.start;
      button.title = `${word.start.toFixed(2)}–${word.end.toFixed(2)} s, confidence ${word.confidence.toFixed(2)}`;
      button.style.setProperty("--confidence", word.confidence);
      if (word.confidence < 0.5) button.classList.add("unsure");
      button.addEventListener("click", () => playFrom(word.start));
      transcript.append(button, " ");
    });
  } else {
    transcript.textContent = result.text;
    note.textContent = result.text ? "The model gave no word times for this transcript."
      : "Nothing was recognised in this audio.";
    note.hidden = false;
  }
  const link = $("srt-link");
  if (link.href) URL.revokeObjectURL(link.href);
  link.hidden = !(result.srt && result.words && result.words.length);
  if (!link.hidden) link.href = URL.createObjectURL(new Blob([result.srt], { type: "text/plain" }));
  $("speech-result").hidden = false;
  $("spectrogram")._image = null;
  $("spectrogram")._attention = null;
  $("attention")._image = null;
  $("attention-block").hidden = !result.attention;
  redrawSpeech(null);
}

function playFrom(seconds) {
  const audio = $("audio");
  audio.currentTime = seconds;
  const playing = audio.play();
  if (playing) playing.catch(() => {});
}

function currentWord(t) {
  const words = (state.speech && state.speech.words) || [];
  return words.findIndex((w) => t >= w.start && t < w.end);
}

function redrawSpeech(playhead) {
  const result = state.speech;
  if (!result) return;
  const current = playhead === null ? -1 : currentWord(playhead);
  drawSpectrogram($("spectrogram"), result, current, playhead);
  if (result.attention) drawAttention($("attention"), result, playhead);
  document.querySelectorAll("#transcript .word").forEach((el) => {
    el.classList.toggle("current", Number(el.dataset.index) === current);
  });
}

const recording = { recorder: null, chunks: [], timer: null, started: 0 };

async function toggleRecording() {
  if (recording.recorder) {
    recording.recorder.stop();
    return;
  }
  showError($("speech-error"), "");
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError($("speech-error"), "this browser cannot record here (recording needs https or localhost)");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError($("speech-error"), `no microphone available (${err.message})`);
    return;
  }
  const types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"];
  const type = types.find((t) => MediaRecorder.isTypeSupported(t));
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  recording.recorder = recorder;
  recording.chunks = [];
  recorder.addEventListener("dataavailable", (e) => { if (e.data.size) recording.chunks.push(e.data); });
  recorder.addEventListener("stop", () => {
    stream.getTracks().forEach((track) => track.stop());
    clearInterval(recording.timer);
    recording.recorder = null;
    $("record").textContent = "● Record";
    $("record").classList.remove("recording");
    $("record-time").textContent = "";
    const blob = new Blob(recording.chunks, { type: recorder.mimeType || "audio/webm" });
    const ext = blob.type.includes("ogg") ? "ogg" : "webm";
    transcribeFile(new File([blob], `recording.${ext}`, { type: blob.type }));
  });
  recorder.start(250);
  recording.started = performance.now();
  $("record").textContent = "■ Stop";
  $("record").classList.add("recording");
  const most = state.limits.max_media_seconds || 600;
  recording.timer = setInterval(() => {
    const seconds = (performance.now() - recording.started) / 1000;
    $("record-time").textContent = `recording ${seconds.toFixed(1)} s`;
    if (seconds >= most) recorder.stop();
  }, 100);
}

// ---- video ----

async function analyseVideo(file) {
  showError($("video-error"), "");
  ["labels-block", "timeline-block", "caption-block", "player-note"].forEach((id) => ($(id).hidden = true));
  if (state.videoUrl) URL.revokeObjectURL(state.videoUrl);
  state.videoUrl = URL.createObjectURL(file);
  $("player").src = state.videoUrl;
  $("video-name").textContent = file.name;
  $("video-meta").textContent = "";
  $("video-result").hidden = false;
  $("video-status").textContent = `Analysing ${file.name}…`;
  $("video").classList.add("busy");
  const jobs = [];
  if (state.tasks.classify) jobs.push(postFile("/api/classify", file).then(showLabels));
  if (state.tasks.caption) jobs.push(postFile("/api/caption", file).then((r) => showCaption(r, state.videoUrl)));
  const outcomes = await Promise.allSettled(jobs);
  const failed = outcomes.filter((o) => o.status === "rejected");
  if (failed.length) showError($("video-error"), failed[0].reason.message);
  if (failed.length === outcomes.length) $("video-result").hidden = true;
  $("video-status").textContent = "";
  $("video").classList.remove("busy");
}

function colourOf(label) {
  const i = state.classes.indexOf(label);
  return PALETTE[(i < 0 ? state.classes.length : i) % PALETTE.length];
}

function showLabels(result) {
  $("video-meta").textContent = `${result.duration.toFixed(2)} s`;
  const list = $("labels");
  list.replaceChildren();
  result.labels.forEach((item) => {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "label-name";
    name.textContent = pretty(item.label);
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(item.score * 100).toFixed(1)}%`;
    fill.style.background = colourOf(item.label);
    bar.appendChild(fill);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `${(item.score * 100).toFixed(1)}%`;
    li.append(name, bar, score);
    list.appendChild(li);
  });
  $("labels-block").hidden = false;
  const windows = result.windows || [{ start: 0, end: result.duration, ...result.labels[0] }];
  const timeline = $("timeline");
  timeline.replaceChildren();
  const duration = Math.max(result.duration, ...windows.map((w) => w.end), 1e-3);
  const lanes = result.windows && result.windows.length > 1 ? 2 : 1;
  timeline.style.height = `${lanes * 30 + 4}px`;
  windows.forEach((w, i) => {
    const seg = document.createElement("button");
    seg.type = "button";
    seg.className = "segment";
    seg.style.left = `${(w.start / duration) * 100}%`;
    seg.style.width = `${((w.end - w.start) / duration) * 100}%`;
    seg.style.top = `${(i % lanes) * 30 + 2}px`;
    seg.style.background = colourOf(w.label);
    seg.textContent = pretty(w.label);
    seg.title = `${w.start.toFixed(1)}–${w.end.toFixed(1)} s: ${pretty(w.label)} (${(w.score * 100).toFixed(0)}%)`;
    seg.addEventListener("click", () => { $("player").currentTime = w.start; });
    timeline.appendChild(seg);
  });
  const head = document.createElement("div");
  head.className = "playhead";
  head.id = "timeline-playhead";
  timeline.appendChild(head);
  timeline.dataset.duration = duration;
  const legend = $("legend");
  legend.replaceChildren();
  [...new Set(windows.map((w) => w.label))].forEach((label) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = colourOf(label);
    item.append(swatch, pretty(label));
    legend.appendChild(item);
  });
  $("timeline-block").hidden = false;
}

function showCaption(result, url) {
  if (!$("video-meta").textContent) $("video-meta").textContent = `${result.duration.toFixed(2)} s`;
  $("caption").textContent = result.caption || "(no caption)";
  const alternatives = $("alternatives");
  alternatives.replaceChildren();
  (result.alternatives || []).forEach((alt) => {
    const li = document.createElement("li");
    li.textContent = `${alt.caption} (${alt.score.toFixed(2)})`;
    alternatives.appendChild(li);
  });
  $("alternatives-block").hidden = !(result.alternatives && result.alternatives.length);
  const table = $("caption-attention");
  table.replaceChildren();
  if (result.attention) {
    const boxes = fillCaptionTable(table, result.attention);
    captureFrames(url, result.attention.frame_times, boxes);
  }
  $("caption-block").hidden = false;
}

// ---- start ----

async function start() {
  let health;
  try {
    const response = await fetch("/api/health");
    health = await response.json();
  } catch (err) {
    $("models").textContent = `The server did not answer (${err.message}); reload the page.`;
    return;
  }
  state.tasks = health.tasks;
  state.limits = health.limits;
  const parts = [];
  const speech = health.models.speech;
  const video = health.models.video;
  if (health.tasks.transcribe) {
    $("speech").hidden = false;
    parts.push(`Speech: ${speech.decoder} decoding${speech.timestamps ? ", word times" : ""}`);
  }
  if (health.tasks.classify || health.tasks.caption) {
    $("video").hidden = false;
    state.classes = video.classes;
    const what = [];
    if (health.tasks.classify) what.push(`${video.classes.length} actions`);
    if (health.tasks.caption) what.push("captions");
    parts.push(`Video: ${what.join(" and ")}`);
  }
  if (!parts.length) {
    $("nothing").hidden = false;
    $("nothing-text").textContent = "This server has no models loaded.";
  }
  const mb = (health.limits.max_upload_bytes / 1e6).toFixed(0);
  parts.push(`files up to ${mb} MB and ${health.limits.max_media_seconds} s`);
  $("models").textContent = parts.join(" · ");
  document.body.dataset.ready = "true";
}

window.addEventListener("DOMContentLoaded", () => {
  wireDrop($("audio-drop"), $("audio-file"), transcribeFile);
  wireDrop($("video-drop"), $("video-file"), analyseVideo);
  $("record").addEventListener("click", toggleRecording);
  const audio = $("audio");
  audio.addEventListener("loadedmetadata", () => {
    // a recorder's webm states no duration: seeking past the end makes the browser find it
    if (audio.duration === Infinity) {
      audio.addEventListener("durationchange", () => { audio.currentTime = 0; }, { once: true });
      audio.currentTime = 1e9;
    }
  });
  audio.addEventListener("timeupdate", () => redrawSpeech(audio.currentTime));
  audio.addEventListener("seeked", () => redrawSpeech(audio.currentTime));
  $("player").addEventListener("error", () => { $("player-note").hidden = false; });
  $("player").addEventListener("timeupdate", () => {
    const head = $("timeline-playhead");
    if (head) head.style.left = `${($("player").currentTime / Number($("timeline").dataset.duration)) * 100}%`;
  });
  window.addEventListener("resize", () => redrawSpeech(state.speech ? audio.currentTime : null));
  start();
});

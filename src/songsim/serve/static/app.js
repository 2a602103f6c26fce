// songsim page: search a song, show its neighbours, click one to make it the query. Same-origin calls only.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { models: [], defaultModel: null };

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function songLabel(s) {
  const who = s.artist || "unknown artist", what = s.title || "untitled";
  return `${who} - ${what}`;
}

function setStatus(msg) { $("status").textContent = msg || ""; }

async function getJSON(url, opts) {
  const r = await fetch(url, opts);
  const body = await r.json().catch(() => ({ error: "bad_response", detail: `HTTP ${r.status}` }));
  if (!r.ok) {
    const extra = body.closest && body.closest.length ? ` (closest: ${body.closest.join(", ")})`
      : body.models && body.models.length ? ` (models that can serve it: ${body.models.join(", ")})` : "";
    throw new Error(`${body.detail || body.error}${extra}`);
  }
  return body;
}

function songButton(s) {
  return el("button", { class: "song", type: "button", "data-track": s.track_id, onclick: () => openSong(s.track_id) },
    songLabel(s));
}

function ordinal(n) {
  const tail = n % 100 >= 10 && n % 100 <= 20 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" })[n % 10] || "th";
  return `${n}${tail}`;
}

function whyNode(why) {
  if (!why) return null;
  const parts = el("div", { class: "why" });
  const mods = Object.entries(why.modalities || {});
  // each modality's similarity as a percentile among the query's candidates (a bar of up to 60 px)
  for (const [m, v] of mods) {
    if (v.missing) {
      parts.append(el("span", { class: "missing" }, `${m}: none in the ${v.missing} `));
      continue;
    }
    parts.append(el("span", { class: `share ${m}`, style: `width:${Math.round(0.6 * v.percentile)}px`,
      title: `${m}: closer than ${Math.round(v.percentile)}% of the candidates` }));
    parts.append(` ${m} ${ordinal(Math.round(v.percentile))} pct `);
  }
  if (why.shared_words && why.shared_words.length) {
    parts.append(el("span", { class: "words" }, `; words: ${why.shared_words.map((w) => w.word).join(", ")}`));
  }
  if (typeof why.function_words === "number") {
    const fw = why.function_words;
    let d = 3;  // as the CLI shows it: 3 decimals, more (up to 6) where 3 would show 0
    while (d < 6 && Number(Math.abs(fw).toFixed(d)) === 0) d += 1;
    parts.append(el("span", { class: "words" }, `; function words ${fw >= 0 ? "+" : "-"}${Math.abs(fw).toFixed(d)} vs the list`));
  }
  if (why.audio) {
    const a = why.audio;
    const key = a.same_key ? `both ${a.keys[0]}` : `${a.keys[0]} vs ${a.keys[1]}`;
    parts.append(`; timbre ${a.timbre_cosine.toFixed(2)}, chroma ${a.chroma_cosine.toFixed(2)}, key ${key}`);
  }
  return parts;
}

async function runSearch(q) {
  setStatus("");
  const list = $("search-results");
  list.replaceChildren();
  if (!q.trim()) return;
  try {
    const body = await getJSON(`/search?q=${encodeURIComponent(q)}&limit=20`);
    $("search-panel").hidden = false;
    if (!body.results.length) { list.append(el("li", {}, "no song matches")); return; }
    for (const s of body.results) {
      const served = s.models.includes(currentModel());
      list.append(el("li", {}, songButton(s), " ", el("span", { class: "tid" }, s.track_id),
        served ? null : el("span", { class: "why" }, ` (not in ${currentModel()}; in: ${s.models.join(", ") || "no model"})`)));
    }
  } catch (e) { setStatus(e.message); }
}

function currentModel() { return $("model").value || state.defaultModel; }

async function openSong(trackId, push = true) {
  setStatus("");
  const params = new URLSearchParams({ track_id: trackId, k: $("k").value || "10", model: currentModel(),
    explain: $("explain").checked, exclude_same_artist: $("exclude").checked });
  if (push) history.pushState({ trackId }, "", `#track=${encodeURIComponent(trackId)}&model=${encodeURIComponent(currentModel())}`);
  try {
    const body = await getJSON(`/similar?${params}`);
    showAnswer(body, songLabel(body.query), `${body.query.track_id} · model ${body.model}`, body.query.track_id);
  } catch (e) { setStatus(e.message); }
}

// the fewest decimals (3 or more) at which no two results with different rank scores show the same score
function shownDecimals(results) {
  for (let d = 3; d < 12; d++) {
    if (results.every((h, i) => i === 0 || results[i - 1].rank_score === h.rank_score
      || results[i - 1].score.toFixed(d) !== h.score.toFixed(d))) return d;
  }
  return 12;
}

function showAnswer(body, title, meta, trackId) {
  $("query-panel").hidden = false;
  $("query-song").textContent = title;
  if (trackId) $("query-song").dataset.track = trackId; else delete $("query-song").dataset.track;
  $("query-meta").textContent = meta;
  const list = $("neighbours");
  list.replaceChildren();
  const d = shownDecimals(body.results);
  for (const h of body.results) {
    list.append(el("li", { "data-track": h.track_id },
      el("span", { class: "score" }, h.score.toFixed(d)),
      el("span", { class: "bar", style: `width:${Math.max(2, Math.round(120 * h.score))}px` }),
      songButton(h), " ", el("span", { class: "tid" }, h.track_id), whyNode(h.why)));
  }
}

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

async function askByContent() {
  setStatus("");
  const body = { k: Number($("k").value || "10"), model: currentModel(), explain: $("explain").checked };
  const lyrics = $("lyrics").value, file = $("h5").files[0];
  if (lyrics.trim()) body.lyrics = lyrics;
  try {
    if (file) body.h5_base64 = await base64Of(file);
    const answer = await getJSON("/similar/content", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(body) });
    const q = answer.query, lyr = q.lyrics;
    const what = [lyr ? `lyrics: ${lyr.in_vocabulary} of ${lyr.words} words in the vocabulary` : null,
      file ? `audio: ${file.name}` : null, q.same_as ? `this is catalog song ${q.same_as}` : null].filter(Boolean);
    showAnswer(answer, "the song you gave", `${what.join(" · ")} · model ${answer.model}`, null);
  } catch (e) { setStatus(e.message); }
}

function fromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.get("model") && state.models.includes(h.get("model"))) $("model").value = h.get("model");
  if (h.get("track")) openSong(h.get("track"), false);
}

async function init() {
  try {
    const health = await getJSON("/healthz");
    state.models = Object.keys(health.models);
    state.defaultModel = health.default_model;
    for (const m of state.models) $("model").append(el("option", { value: m }, m));
    $("model").value = state.defaultModel;
  } catch (e) { setStatus(`service not ready: ${e.message}`); }
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch($("q").value); });
  $("content-form").addEventListener("submit", (ev) => { ev.preventDefault(); askByContent(); });
  $("model").addEventListener("change", () => { const t = $("query-song").dataset.track; if (t) openSong(t); });
  window.addEventListener("popstate", fromHash);
  fromHash();
}

init();

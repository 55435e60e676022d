/* adqa-data report: draws the sections from data/summary.js and browses rollout groups page by page.
 * Every string from the data is set as text (textContent, text nodes), never as markup. Data files are
 * scripts calling ADQA.loaded(key, value): a page opened from disk may load scripts, not fetch files. */
"use strict";

const ADQA = (() => {
  const cache = {};
  const waiting = {};
  const VIEW = 10; // groups shown at once

  // ------------------------------------------------------------------------------------ data loading
  function loaded(key, value) {
    cache[key] = value;
    (waiting[key] || []).forEach((f) => f.resolve(value));
    delete waiting[key];
    if (key === "summary") render(value);
  }

  function load(key) {
    if (key in cache) return Promise.resolve(cache[key]);
    return new Promise((resolve, reject) => {
      const first = !(key in waiting);
      (waiting[key] = waiting[key] || []).push({ resolve, reject });
      if (!first) return;
      const s = document.createElement("script");
      s.src = "data/" + key + ".js";
      s.onerror = () => {
        (waiting[key] || []).forEach((f) => f.reject(new Error("cannot load data/" + key + ".js")));
        delete waiting[key];
      };
      document.head.appendChild(s);
    });
  }

  // ---------------------------------------------------------------------------------------- elements
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-") || k === "role" || k.startsWith("aria-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }

  const fmt = (x, nd = 3) => (x === null || x === undefined ? "-" : Number(x).toFixed(nd).replace(/\.?0+$/, "") || "0");
  const signed = (x) => (x === null || x === undefined ? "-" : (x > 0 ? "+" : "") + Number(x).toFixed(3));
  const slug = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, "_");

  // ----------------------------------------------------------------------------------------- summary
  function render(summary) {
    const main = document.getElementById("report");
    const nav = document.getElementById("nav");
    main.textContent = "";
    nav.textContent = "";
    for (const ds of summary.datasets) {
      const dsId = "ds-" + slug(ds.name);
      const links = el("span", { class: "nav-ds" }, el("a", { href: "#" + dsId, text: ds.name }));
      const box = el("section", { class: "dataset", id: dsId }, el("h2", { text: "Dataset " + ds.name }));
      for (const sec of ds.sections) {
        const id = dsId + "-" + sec.id;
        const skipped = sec.blocks.every((b) => b.kind === "note" && b.skipped);
        links.appendChild(el("a", { href: "#" + id, class: skipped ? "off" : "", text: sec.title }));
        const s = el("section", { class: "section" + (skipped ? " skipped" : ""), id, "data-section": sec.id });
        s.appendChild(el("h3", { text: sec.title }));
        const body = el("div", { class: "blocks" });
        s.appendChild(body);
        for (const b of sec.blocks) body.appendChild(block(b));
        box.appendChild(s);
      }
      nav.appendChild(links);
      main.appendChild(box);
    }
    main.setAttribute("data-ready", "1");
  }

  function block(b) {
    if (b.kind === "note") return el("p", { class: "note" + (b.skipped ? " skipped-note" : ""), text: b.text });
    if (b.kind === "table") {
      const head = el("tr", {}, b.columns.map((c) => el("th", { text: c })));
      const rows = b.rows.map((r) => el("tr", {}, r.map((v) => el("td", { text: typeof v === "number" ? fmt(v, 4) : v === null ? "-" : String(v) }))));
      return el("figure", { class: "block table" }, el("figcaption", { text: b.title }), el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), el("tbody", {}, rows))));
    }
    if (b.kind === "chart") {
      // the title is the figure's caption (it wraps; a plotly title is cut at the chart's width)
      const plot = el("div", { class: "plot" });
      const narrow = window.innerWidth < 640;
      const layout = Object.assign(
        { autosize: true, height: narrow ? 230 : 250, margin: { l: 40, r: 10, t: 10, b: 30 }, font: { size: 11.5 }, legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" } },
        b.fig.layout
      );
      delete layout.title;
      for (const axis of ["xaxis", "yaxis"]) layout[axis] = Object.assign({ automargin: true }, layout[axis]);
      if (b.fig.data.length > 1 || b.fig.data.some((t) => t.name)) layout.margin.t = 30;
      // drawn once the element is in the page, so plotly measures its width; no mode bar over the plot
      requestAnimationFrame(() => Plotly.newPlot(plot, b.fig.data, layout, { responsive: true, displaylogo: false, displayModeBar: false }));
      return el("figure", { class: "block chart" }, el("figcaption", { text: b.title }), plot);
    }
    if (b.kind === "groups") return groupBrowser(b);
    return el("p", { class: "note", text: "(unknown block " + b.kind + ")" });
  }

  // -------------------------------------------------------------------------------- rollout browser
  // one browser per block; an online run's rounds share one, with a picker that swaps the set it browses
  function groupBrowser(b) {
    const box = el("div", { class: "block groups", "data-set": b.set });
    box.appendChild(el("h4", { text: b.title }));
    const inner = el("div", { class: "browser" });
    function open(key) {
      box.setAttribute("data-set", key);
      inner.textContent = "";
      const status = el("p", { class: "note", text: "Loading groups ..." });
      inner.appendChild(status);
      load(key + "/index").then((index) => {
        if (box.getAttribute("data-set") === key) browse(inner, status, key, index); // a later pick won
      }, (e) => { status.textContent = String(e.message); });
    }
    if (b.sets) {
      const [setLabel, set] = select("rollout set", b.sets.map(([label, key]) => [key, label]), "set");
      set.value = b.set;
      set.addEventListener("change", () => open(set.value));
      box.appendChild(el("div", { class: "controls" }, setLabel));
    }
    box.appendChild(inner);
    open(b.set);
    return box;
  }

  function select(label, options, name) {
    const s = el("select", { name }, options.map(([v, t]) => el("option", { value: v, text: t })));
    return [el("label", { text: label }, s), s];
  }

  function browse(box, status, key, index) {
    status.remove();
    const [typeLabel, type] = select("question type", [["", "all"], ...index.types.map((t, i) => [String(i), t])], "type");
    const [verdictLabel, verdict] = select("parse verdict", [["", "any"], ...index.verdicts.map((t, i) => [String(i), t])], "verdict");
    const [zeroLabel, zero] = select("zero-signal", [["", "all groups"], ["1", "zero-signal only"], ["0", "with signal only"]], "zero");
    const lo = el("input", { type: "number", step: "0.05", name: "min_reward", placeholder: "min" });
    const hi = el("input", { type: "number", step: "0.05", name: "max_reward", placeholder: "max" });
    const count = el("span", { class: "count", "data-count": String(index.groups) });
    const prev = el("button", { type: "button", text: "previous" });
    const next = el("button", { type: "button", text: "next" });
    const where = el("span", { class: "where" });
    const list = el("div", { class: "group-list" });
    box.append(
      el("div", { class: "controls" }, typeLabel, verdictLabel, zeroLabel, el("label", { text: "mean reward from" }, lo), el("label", { text: "to" }, hi)),
      el("div", { class: "pager" }, count, prev, where, next),
      list
    );
    let matched = [];
    let page = 0;
    let drawing = 0;

    function apply() {
      const t = type.value === "" ? null : Number(type.value);
      const v = verdict.value === "" ? null : Number(verdict.value);
      const z = zero.value === "" ? null : Number(zero.value);
      const a = lo.value === "" ? -Infinity : Number(lo.value);
      const c = hi.value === "" ? Infinity : Number(hi.value);
      matched = [];
      index.rows.forEach((r, i) => {
        if (t !== null && r[1] !== t) return;
        if (z !== null && r[2] !== z) return;
        if (r[3] !== null && (r[3] < a || r[3] > c)) return;
        if (v !== null && !r[6].includes(v)) return;
        matched.push(i);
      });
      count.textContent = matched.length + " of " + index.groups + " groups";
      count.setAttribute("data-count", String(matched.length));
      page = 0;
      show();
    }

    function show() {
      const pages = Math.max(1, Math.ceil(matched.length / VIEW));
      page = Math.min(page, pages - 1);
      where.textContent = "page " + (page + 1) + " of " + pages;
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
      const shown = matched.slice(page * VIEW, (page + 1) * VIEW);
      const files = [...new Set(shown.map((i) => index.rows[i][0]))];
      const ticket = ++drawing;
      Promise.all(files.map((p) => load(key + "/page-" + String(p).padStart(4, "0")))).then(() => {
        if (ticket !== drawing) return; // a later filter or page won
        list.textContent = "";
        if (!shown.length) list.appendChild(el("p", { class: "note", text: "No group matches these filters." }));
        for (const i of shown) {
          const p = index.rows[i][0];
          const g = cache[key + "/page-" + String(p).padStart(4, "0")][i - p * index.page_groups];
          list.appendChild(groupCard(g, index.profile_rows));
        }
      }, (e) => { list.textContent = ""; list.appendChild(el("p", { class: "note", text: String(e.message) })); });
    }

    for (const c of [type, verdict, zero]) c.addEventListener("change", apply);
    for (const c of [lo, hi]) c.addEventListener("input", apply);
    prev.addEventListener("click", () => { page -= 1; show(); });
    next.addEventListener("click", () => { page += 1; show(); });
    apply();
  }

  const LETTERS = "ABCDEFGHIJ";

  function groupCard(g, rows) {
    const whose = rows === "all" ? "the whole reply" : "the reasoning"; // the anchoring pass's query rows
    const card = el("article", { class: "group" + (g.zero_signal ? " zero" : ""), "data-group": g.group_id });
    card.appendChild(
      el("header", {},
        el("span", { class: "gid", text: g.item_id }),
        el("span", { class: "tag", text: g.question_type || "(no type)" }),
        g.source ? el("span", { class: "tag", text: g.source }) : null,
        g.zero_signal ? el("span", { class: "tag warn", text: "zero signal" }) : null)
    );
    if (g.question) card.appendChild(el("p", { class: "question", text: g.question }));
    card.appendChild(el("ol", { class: "choices", type: "A" }, g.choices.map((c, i) => el("li", { class: i === g.answer ? "gold" : "", text: c + (i === g.answer ? "  (gold)" : "") }))));
    const clip = g.clip || {};
    let audio = null;
    if (clip.src) {
      audio = el("audio", { controls: true, preload: "metadata", src: clip.src, class: "clip" });
      card.appendChild(audio);
    } else {
      card.appendChild(el("p", { class: "note", text: "clip: " + (clip.error || "not copied (--audio none)") }));
    }
    // the clip's waveform once per group (the playback position on it); a strip per completion that
    // has an attention profile, the profile drawn over the same waveform
    const strips = [];
    const seek = (canvas) => (ev) => {
      if (!audio) return;
      const r = canvas.getBoundingClientRect();
      audio.currentTime = ((ev.clientX - r.left) / r.width) * (audio.duration || clip.duration || 0);
      audio.play().catch(() => {});
    };
    if (clip.envelope) {
      const wave = el("canvas", { class: "strip wave", "data-profile": "0", title: "the clip's waveform: click to play from there" });
      wave.addEventListener("click", seek(wave));
      strips.push({ canvas: wave, profile: null });
      card.appendChild(el("div", { class: "stripbox" }, wave, el("span", { class: "stripcap", text: "waveform, " + fmt(clip.duration, 2) + " s" })));
    }
    const list = el("div", { class: "completions" });
    const scored = g.completions.filter((c) => c.profile).length;
    card.appendChild(el("p", { class: "stripcap", text: "attention along the clip: " + scored + " of " + g.completions.length + " completions scored by the anchoring pass" + (scored < g.completions.length ? " (it scores correct completions only, when the anchoring reward is on)" : "") }));
    for (const c of g.completions) {
      const rewards = Object.entries(c.rewards).map(([k, v]) => el("span", { class: "reward", "data-reward": k, text: k + " " + fmt(v) }));
      const adv = el("span", { class: "adv " + (c.advantage > 0 ? "pos" : c.advantage < 0 ? "neg" : "zero"), text: "advantage " + signed(c.advantage) });
      const verdict = el("span", { class: "verdict " + (c.credited ? "credited" : "refused"), title: c.credited ? "parse layer" : "no credit: reason", text: (c.credited ? (LETTERS[c.parsed] || "?") + " via " : "no credit: ") + c.verdict });
      const head = el("div", { class: "chead" }, el("span", { class: "ci", text: "#" + c.i }), verdict, el("span", { class: "total", text: "reward " + fmt(c.reward) }), adv, rewards,
        c.finish === "length" ? el("span", { class: "tag warn", text: "truncated" }) : null);
      const text = el("pre", { class: "text" });
      let at = 0;
      for (const [s, e] of c.spans) {
        if (s > at) text.appendChild(document.createTextNode(c.text.slice(at, s)));
        text.appendChild(el("mark", { class: c.credited ? "parse" : "parse refused", title: c.verdict, text: c.text.slice(Math.max(s, at), e) }));
        at = Math.max(at, e);
      }
      if (at < c.text.length) text.appendChild(document.createTextNode(c.text.slice(at)));
      if (!c.text.length) text.appendChild(el("span", { class: "empty", text: "(empty completion)" }));
      let strip = null;
      if (c.profile && clip.envelope) {
        const canvas = el("canvas", { class: "strip", "data-profile": "1", title: "where " + whose + " attended along the clip: click to play from there" });
        canvas.addEventListener("click", seek(canvas));
        strips.push({ canvas, profile: c.profile });
        const con = c.profile.reduce((a, b) => a + b, 0);
        strip = el("div", { class: "stripbox" }, canvas, el("span", { class: "stripcap", text: "attention of " + whose + " along the clip (orange; " + (100 * con).toFixed(1) + "% of it on the audio), over the waveform" }));
      }
      list.appendChild(el("div", { class: "completion" }, head, text, strip));
    }
    card.appendChild(list);
    const draw = (cursor) => strips.forEach((s) => drawStrip(s.canvas, clip.envelope || [], s.profile, cursor));
    requestAnimationFrame(() => draw(null));
    if (audio) audio.addEventListener("timeupdate", () => draw(audio.duration ? audio.currentTime / audio.duration : null));
    resizers.push({ card, draw: () => draw(null) });
    return card;
  }

  // the waveform (grey, min/max per column) with the attention profile over it (orange, opacity and
  // height by the bin's share of the maximum bin), and the playback position
  function drawStrip(canvas, env, profile, cursor) {
    if (!canvas.isConnected) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(50, canvas.clientWidth);
    const h = Math.max(20, canvas.clientHeight);
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = "#f4f4f6";
    ctx.fillRect(0, 0, w, h);
    const peak = Math.max(1e-6, ...env.map(([a, b]) => Math.max(-a, b)));
    ctx.fillStyle = profile ? "rgba(60, 60, 80, 0.35)" : "rgba(50, 60, 90, 0.7)";
    const cw = w / Math.max(1, env.length);
    env.forEach(([a, b], i) => {
      const y0 = h / 2 - (b / peak) * (h / 2 - 2);
      const y1 = h / 2 - (a / peak) * (h / 2 - 2);
      ctx.fillRect(i * cw, y0, Math.max(1, cw), Math.max(1, y1 - y0));
    });
    if (profile && profile.length) {
      // each bin's attention as a share of the largest bin: colour, and the height of an outlined curve
      const top = Math.max(...profile) || 1;
      const bw = w / profile.length;
      profile.forEach((p, i) => {
        ctx.fillStyle = "rgba(235, 110, 10, " + (0.08 + 0.5 * (p / top)).toFixed(3) + ")";
        ctx.fillRect(i * bw, 0, Math.ceil(bw), h);
      });
      ctx.beginPath();
      ctx.moveTo(0, h);
      profile.forEach((p, i) => ctx.lineTo((i + 0.5) * bw, h - (p / top) * (h - 3)));
      ctx.lineTo(w, h);
      ctx.strokeStyle = "rgba(190, 80, 0, 0.95)";
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
    if (cursor !== null && cursor !== undefined) {
      ctx.fillStyle = "#c00";
      ctx.fillRect(cursor * w, 0, 2, h);
    }
    canvas.setAttribute("data-drawn", profile ? "attention" : "waveform");
  }

  const resizers = [];
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      // cards of pages no longer shown are gone from the page: forget them
      resizers.splice(0, resizers.length, ...resizers.filter((r) => r.card.isConnected));
      resizers.forEach((r) => r.draw());
    }, 150);
  });

  return { loaded, load };
})();

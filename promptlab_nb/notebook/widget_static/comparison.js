// The comparison grid's view. Every value from the kernel is set with textContent or as an
// attribute value, never parsed as HTML, so model output shows as text.

const COLLAPSED_CHARS = 280;
const SEARCH_DELAY_MS = 250;
const SVG = "http://www.w3.org/2000/svg";

function h(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function formatNumber(value, digits = 2) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function formatLatency(value) {
  if (value === null || value === undefined) return null;
  return value < 10 ? `${Number(value).toFixed(1)} ms` : `${Math.round(value)} ms`;
}

function formatCost(value) {
  return value === null || value === undefined ? "cost ?" : `$${Number(value).toFixed(4)}`;
}

function scoreBadge(name, value, reason) {
  const badge = (kind, text) => h("span", { class: `pl-badge ${kind}`, title: reason ?? "", text });
  if (value === null || value === undefined) return badge("", `${name} –`);
  if (value === 1) return badge("pl-pass", `✓ ${name}`);
  if (value === 0) return badge("pl-fail", `✗ ${name}`);
  return badge("", `${name} ${formatNumber(value)}`);
}

function outputText(cell) {
  const body = h("div", { class: "pl-output" });
  if (cell.diff) {
    const kinds = { "=": "pl-same", "+": "pl-added", "-": "pl-removed", "~": "pl-not-compared" };
    const notCompared = { title: "Not compared: the diff covers the first 1,000 words and spaces of long outputs" };
    for (const [kind, text] of cell.diff) {
      body.append(h("span", { class: kinds[kind], text, ...(kind === "~" ? notCompared : {}) }));
    }
  } else {
    body.textContent = cell.output ?? "";
  }
  return body;
}

function collapsible(body, length) {
  if (length <= COLLAPSED_CHARS) return body;
  body.classList.add("pl-collapsed");
  const toggle = h("button", { class: "pl-link", text: "more" });
  toggle.addEventListener("click", () => {
    const collapsed = body.classList.toggle("pl-collapsed");
    toggle.textContent = collapsed ? "more" : "less";
  });
  return h("div", {}, [body, toggle]);
}

function metaLine(cell) {
  const parts = [
    formatLatency(cell.latency_ms),
    cell.input_tokens === null ? null : `${cell.input_tokens}→${cell.output_tokens ?? "?"} tok`,
    formatCost(cell.cost),
    cell.cache_hit ? "cached" : null,
  ];
  return h("div", { class: "pl-meta", text: parts.filter(Boolean).join(" · ") });
}

function ratingControls(cell, model) {
  const note = h("input", { class: "pl-note", type: "text", placeholder: "note", value: cell.rating_note ?? "" });
  const send = (value) => model.send({ kind: "rate", run_id: cell.run_id, value, note: note.value });
  const thumb = (value, symbol, name) =>
    h("button", {
      class: `pl-rate pl-rate-${name}`,
      title: value === 1 ? "thumbs up: good" : "thumbs down: bad",
      "aria-label": value === 1 ? "thumbs up" : "thumbs down",
      "aria-pressed": String(cell.rating === value),
      text: symbol,
      onclick: () => send(cell.rating === value ? 0 : value),
    });
  note.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && cell.rating) send(cell.rating);
  });
  return h("div", { class: "pl-rating" }, [thumb(1, "▲", "up"), thumb(-1, "▼", "down"), note]);
}

function cellView(cell, evaluators, model) {
  if (!cell) return h("td", { class: "pl-cell pl-pending", text: "pending…" });
  const failed = cell.status !== "ok";
  const content = failed
    ? h("div", { class: "pl-error", text: `${cell.status}: ${cell.error ?? ""}` })
    : collapsible(outputText(cell), (cell.output ?? "").length);
  const badges = h("div", { class: "pl-badges" }, evaluators.map((name) => scoreBadge(name, cell.scores[name], cell.reasons[name])));
  return h("td", { class: failed ? "pl-cell pl-failed" : "pl-cell", "data-run-id": cell.run_id }, [
    content,
    badges,
    metaLine(cell),
    ratingControls(cell, model),
  ]);
}

function inputsView(inputs) {
  return h("td", { class: "pl-inputs" }, inputs.map(([name, value]) =>
    h("div", {}, [h("b", { text: `${name}: ` }), h("span", { text: value })])));
}

function gridView(model) {
  const view = model.get("view");
  const variants = model.get("variants");
  const evaluators = model.get("evaluators");
  const head = h("tr", {}, [h("th", { text: "input" }), ...variants.map((variant) => h("th", { text: variant }))]);
  const rows = (view.rows ?? []).map((row) =>
    h("tr", { "data-row": String(row.row_index) }, [
      inputsView(row.inputs),
      ...row.cells.map((cell) => cellView(cell, evaluators, model)),
    ]));
  return h("table", { class: "pl-grid" }, [h("thead", {}, [head]), h("tbody", {}, rows)]);
}

function svgNode(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function chartView(summary) {
  const width = 240, barHeight = 16, gap = 6;
  const scores = summary.map((variant) => variant.scores[0]);
  const top = Math.max(1, ...scores.map((score) => score?.mean ?? 0));
  const x = (value) => Math.min(width, Math.max(0, (value / top) * width));
  const chart = svgNode("svg", { class: "pl-chart", width, height: summary.length * (barHeight + gap) });
  summary.forEach((variant, index) => {
    const score = scores[index];
    if (!score || score.mean === null) return;
    const y = index * (barHeight + gap), middle = y + barHeight / 2;
    const bar = svgNode("rect", { x: 0, y, width: Math.max(1, x(score.mean)), height: barHeight, class: "pl-bar" });
    const whisker = svgNode("line", {
      x1: x(score.low ?? score.mean), x2: x(score.high ?? score.mean), y1: middle, y2: middle, class: "pl-whisker",
    });
    const title = svgNode("title", {});
    title.textContent = `${variant.variant}: ${score.name} ${formatNumber(score.mean)} [${formatNumber(score.low)}, ${formatNumber(score.high)}]`;
    bar.append(title);
    chart.append(bar, whisker);
  });
  const caption = h("div", { class: "pl-caption", text: `${scores[0]?.name ?? ""}: mean and 95% CI, one bar per variant` });
  return h("div", { class: "pl-chart-box" }, [caption, chart]);
}

function summaryView(model) {
  const summary = model.get("summary");
  if (!summary.length) return h("div");
  const names = summary[0].scores.map((score) => score.name);
  const head = h("tr", {}, ["variant", "runs", "errors", ...names, "cost", "latency p50"].map((text) => h("th", { text })));
  const rows = summary.map((variant) =>
    h("tr", {}, [
      h("td", { text: variant.variant }),
      h("td", { text: String(variant.runs) }),
      h("td", { text: `${formatNumber(100 * variant.error_rate, 0)}%` }),
      ...variant.scores.map((score) =>
        h("td", { title: score.verdict, text: `${formatNumber(score.mean)} [${formatNumber(score.low)}, ${formatNumber(score.high)}]` })),
      h("td", { text: formatCost(variant.cost) }),
      h("td", { text: formatLatency(variant.latency_p50_ms) ?? "–" }),
    ]));
  const table = h("table", { class: "pl-summary" }, [h("thead", {}, [head]), h("tbody", {}, rows)]);
  return h("div", { class: "pl-header" }, [table, names.length ? chartView(summary) : null]);
}

function select(model, trait, optionsTrait, className) {
  const node = h("select", { class: className, onchange: () => save(model, trait, node.value) });
  const fill = () => {
    node.replaceChildren(...model.get(optionsTrait).map((option) => h("option", { value: option.key, text: option.label })));
    node.value = model.get(trait);
  };
  fill();
  model.on(`change:${optionsTrait}`, fill);
  model.on(`change:${trait}`, () => { node.value = model.get(trait); });
  return node;
}

function checkbox(model, trait, label) {
  const box = h("input", { type: "checkbox", class: `pl-${trait}`, onchange: () => save(model, trait, box.checked) });
  box.checked = model.get(trait);
  model.on(`change:${trait}`, () => { box.checked = model.get(trait); });
  return h("label", {}, [box, document.createTextNode(` ${label}`)]);
}

function searchBox(model) {
  let timer = null;
  const box = h("input", { type: "search", class: "pl-search", placeholder: "search inputs and outputs" });
  box.value = model.get("search");
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => save(model, "search", box.value), SEARCH_DELAY_MS);
  });
  return box;
}

function save(model, trait, value) {
  model.set(trait, value);
  model.save_changes();
}

function pager(model) {
  const label = h("span", { class: "pl-page" });
  const previous = h("button", { text: "‹ previous", onclick: () => save(model, "page", model.get("view").page - 1) });
  const next = h("button", { text: "next ›", onclick: () => save(model, "page", model.get("view").page + 1) });
  const update = () => {
    const view = model.get("view");
    label.textContent = `page ${view.page + 1} of ${view.page_count} · ${view.matching} of ${view.total} rows`;
    previous.disabled = view.page <= 0;
    next.disabled = view.page >= view.page_count - 1;
  };
  update();
  model.on("change:view", update);
  return h("span", { class: "pl-pager" }, [previous, label, next]);
}

function controls(model) {
  return h("div", { class: "pl-controls" }, [
    checkbox(model, "failed_only", "failed only"),
    checkbox(model, "disagree_only", "variants disagree"),
    searchBox(model),
    h("label", { text: "sort " }, [select(model, "sort_by", "sort_options", "pl-sort")]),
    checkbox(model, "descending", "descending"),
    h("label", { text: "diff " }, [select(model, "baseline", "baseline_options", "pl-baseline")]),
    pager(model),
  ]);
}

function titleView(model) {
  const title = h("div", { class: "pl-title" });
  const update = () => {
    const progress = `${model.get("finished")} of ${model.get("expected_runs")} cells`;
    const message = model.get("message");
    title.replaceChildren(h("b", { text: model.get("title") }), h("span", { class: "pl-progress", text: ` · ${progress}` }));
    if (message) title.append(h("div", { class: "pl-message", text: message }));
  };
  update();
  for (const trait of ["title", "finished", "expected_runs", "message"]) model.on(`change:${trait}`, update);
  return title;
}

function render({ model, el }) {
  const summary = h("div", { class: "pl-summary-box" }, [summaryView(model)]);
  const grid = h("div", { class: "pl-grid-box" }, [gridView(model)]);
  model.on("change:summary", () => summary.replaceChildren(summaryView(model)));
  const redrawGrid = () => grid.replaceChildren(gridView(model));
  for (const trait of ["view", "variants", "evaluators"]) model.on(`change:${trait}`, redrawGrid);
  el.classList.add("promptlab-widget");
  el.append(titleView(model), summary, controls(model), grid);
}

export default { render };

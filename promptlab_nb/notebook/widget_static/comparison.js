// The comparison grid's view, shared by the widget (its model is the kernel's) and the report
// (report_boot.js gives it a model computed in the page by local_view.js). Every value is set with
// textContent or as an attribute value, never parsed as HTML, so model output shows as text.

const COLLAPSED_CHARS = 280;
const SEARCH_DELAY_MS = 250;

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

const PRICE_UNKNOWN = "price unknown";

function formatCost(value) {
  return value === null || value === undefined ? PRICE_UNKNOWN : `$${Number(value).toFixed(4)}`;
}

function cellCost(cell) {
  if (cell.status !== "ok" && (cell.cost === null || cell.cost === undefined)) return null;
  return formatCost(cell.cost);
}

function summaryCost(variant) {
  if (variant.unpriced && variant.unpriced >= variant.runs) return PRICE_UNKNOWN;
  const known = formatCost(variant.cost);
  return variant.unpriced ? `${known} + ${variant.unpriced} at ${PRICE_UNKNOWN}` : known;
}

function scoreBadge(name, value, reason) {
  const badge = (kind, text) => h("span", { class: `pl-badge ${kind}`, title: reason ?? "", text });
  if (value === null || value === undefined) return badge("", `${name} –`);
  if (value === 1) return badge("pl-pass", `✓ ${name}`);
  if (value === 0) return badge("pl-fail", `✗ ${name}`);
  return badge("", `${name} ${formatNumber(value)}`);
}

const DIFF_SEGMENTS = {
  "=": ["span", "pl-same", null],
  "+": ["ins", "pl-added", "added"],
  "-": ["del", "pl-removed", "removed"],
  "~": ["span", "pl-not-compared", "Not compared: the diff covers the first 1,000 words and spaces of long outputs"],
};

function diffSegment(kind, text) {
  const [tag, className, title] = DIFF_SEGMENTS[kind];
  return h(tag, { class: className, text, ...(title ? { title } : {}) });
}

function outputText(cell) {
  const body = h("div", { class: "pl-output" });
  if (cell.diff) {
    body.classList.add("pl-diff");
    body.append(...cell.diff.map(([kind, text]) => diffSegment(kind, text)));
  } else {
    body.textContent = cell.output ?? "";
  }
  return body;
}

// Characters that show nothing or reorder the text around them (zero-width, direction overrides and
// isolates, byte order mark): an output holding them says so, so that a reader is not misled.
const HIDDEN_CHARACTERS = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/gu;

function hiddenCharacters(text) {
  const found = [...new Set((text ?? "").match(HIDDEN_CHARACTERS) ?? [])];
  if (!found.length) return null;
  const codes = found.map((character) => `U+${character.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
  return h("div", {
    class: "pl-hidden-characters",
    title: "invisible or text-direction characters in this output",
    text: `hidden characters: ${codes.join(", ")}`,
  });
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
    cellCost(cell),
    cell.cache_hit ? "cached" : null,
  ];
  return h("div", { class: "pl-meta", text: parts.filter(Boolean).join(" · ") });
}

const RATING_WORDS = { 1: "▲ rated good", [-1]: "▼ rated bad" };

function ratingView(cell) {
  if (!cell.rating) return null;
  const note = cell.rating_note ? `: ${cell.rating_note}` : "";
  return h("div", { class: "pl-rating pl-rated", text: `${RATING_WORDS[cell.rating] ?? cell.rating}${note}` });
}

function ratingControls(cell, model) {
  if (model.get("read_only")) return ratingView(cell);
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

function failureView(cell) {
  if (cell.status === "cancelled") {
    return h("div", { class: "pl-cancelled-note", text: `cancelled: ${cell.error ?? "interrupted before it finished"}` });
  }
  const where = cell.failed_step ? `error in step ${cell.failed_step}` : "error";
  const error = h("div", { class: "pl-error", text: `${where}: ${cell.error ?? ""}` });
  if (cell.failed_output === null || cell.failed_output === undefined) return error;
  const answer = h("div", { class: "pl-output pl-failed-answer", text: cell.failed_output });
  return h("div", {}, [error, h("div", { class: "pl-caption", text: "the model answered:" }),
    collapsible(answer, cell.failed_output.length)]);
}

function cellClass(cell) {
  if (cell.status === "ok") return "pl-cell";
  return cell.status === "cancelled" ? "pl-cell pl-cancelled" : "pl-cell pl-failed";
}

function cellView(cell, evaluators, model) {
  if (!cell) return h("td", { class: "pl-cell pl-pending", text: "pending…" });
  const content = cell.status !== "ok"
    ? failureView(cell)
    : collapsible(outputText(cell), (cell.output ?? "").length);
  const badges = h("div", { class: "pl-badges" }, evaluators.map((name) => scoreBadge(name, cell.scores[name], cell.reasons[name])));
  return h("td", { class: cellClass(cell), "data-run-id": cell.run_id }, [
    content,
    hiddenCharacters(cell.output),
    badges,
    metaLine(cell),
    ratingControls(cell, model),
  ]);
}

const REPEAT_CHOICES = new WeakMap();

function repeatChoices(model) {
  if (!REPEAT_CHOICES.has(model)) REPEAT_CHOICES.set(model, new Map());
  return REPEAT_CHOICES.get(model);
}

function passBadge(cell) {
  const kind = cell.passed === cell.repeat_count ? "pl-pass" : cell.passed === 0 ? "pl-fail" : "pl-partial";
  return h("span", {
    class: `pl-badge pl-pass-count ${kind}`,
    title: "repeats that ran with no failed check",
    text: `${cell.passed} of ${cell.repeat_count} pass`,
  });
}

function repeatView(repeat, index, evaluators, model) {
  const run = cellView(repeat, evaluators, model);
  const label = h("div", { class: "pl-repeat-label", text: `repeat ${index + 1}` });
  const classes = [...run.classList].filter((name) => name !== "pl-cell");
  return h("div", { class: ["pl-repeat", ...classes].join(" "), "data-run-id": repeat.run_id }, [label, ...run.childNodes]);
}

// A cell with several repeats shows how many passed, one repeat at a time (stepped through with
// ‹ ›) or all of them; the choice survives a redraw of the grid.
function repeatedCellView(cell, evaluators, model) {
  if (!cell || !(cell.repeat_count > 1)) return cellView(cell, evaluators, model);
  const choices = repeatChoices(model);
  const key = cell.repeats[0].run_id;
  const choice = choices.get(key) ?? { shown: 0, all: false };
  const td = h("td", { class: "pl-cell pl-repeated" });
  const choose = (change) => {
    choices.set(key, { ...choice, ...change });
    td.replaceWith(repeatedCellView(cell, evaluators, model));
  };
  const shown = Math.min(choice.shown, cell.repeat_count - 1);
  const bar = h("div", { class: "pl-repeats" }, [
    passBadge(cell),
    choice.all ? null : h("button", {
      class: "pl-repeat-previous", "aria-label": "previous repeat", text: "‹", onclick: () => choose({ shown: shown - 1 }),
    }),
    choice.all ? null : h("span", { class: "pl-repeat-position", text: `repeat ${shown + 1} of ${cell.repeat_count}` }),
    choice.all ? null : h("button", {
      class: "pl-repeat-next", "aria-label": "next repeat", text: "›", onclick: () => choose({ shown: shown + 1 }),
    }),
    h("button", { class: "pl-link pl-repeat-all", text: choice.all ? "one at a time" : "show all", onclick: () => choose({ all: !choice.all }) }),
  ]);
  const previous = bar.querySelector(".pl-repeat-previous");
  const next = bar.querySelector(".pl-repeat-next");
  if (previous) previous.disabled = shown <= 0;
  if (next) next.disabled = shown >= cell.repeat_count - 1;
  if (choice.all) {
    td.replaceChildren(bar, ...cell.repeats.map((repeat, index) => repeatView(repeat, index, evaluators, model)));
    return td;
  }
  const run = cellView(cell.repeats[shown], evaluators, model);
  td.className = `${run.className} pl-repeated`;
  td.setAttribute("data-run-id", cell.repeats[shown].run_id);
  td.replaceChildren(bar, ...run.childNodes);
  return td;
}

function inputsView(inputs) {
  return h("td", { class: "pl-inputs" }, inputs.map(([name, value]) =>
    h("div", {}, [h("b", { text: `${name}: ` }), collapsible(h("div", { class: "pl-input", text: value }), value.length)])));
}

const PICKS = [
  ["left", "A is better", "pl-prefer-left"],
  ["tie", "tie", "pl-prefer-tie"],
  ["right", "B is better", "pl-prefer-right"],
];

// Blind mode: the better of outputs A and B of a row (the first two shown), or a tie; the pick stored
// for this pair is pressed.
function pickView(pair, model) {
  if (!pair) return h("td", { class: "pl-pick" });
  const preferred = { left: pair.left_run_id, right: pair.right_run_id, tie: null };
  const send = (side) => model.send({
    kind: "prefer", left_run_id: pair.left_run_id, right_run_id: pair.right_run_id, preferred_run_id: preferred[side],
  });
  return h("td", { class: "pl-pick" }, PICKS.map(([side, text, className]) => h("button", {
    class: `pl-prefer ${className}`,
    "aria-pressed": String(pair.picked === side),
    text,
    onclick: () => send(side),
  })));
}

function gridView(model) {
  const view = model.get("view");
  const variants = model.get("variants");
  const evaluators = model.get("evaluators");
  const blind = Boolean(model.get("blind")) && variants.length > 1;
  const head = h("tr", {}, [
    h("th", { text: "input" }),
    ...variants.map((variant) => h("th", { text: variant })),
    blind ? h("th", { text: "which is better?" }) : null,
  ]);
  const rows = (view.rows ?? []).map((row) =>
    h("tr", { "data-row": String(row.row_index) }, [
      inputsView(row.inputs),
      ...row.cells.map((cell) => repeatedCellView(cell, evaluators, model)),
      blind ? pickView(row.pair, model) : null,
    ]));
  if (view.empty_reason) {
    const columns = variants.length + (blind ? 2 : 1);
    rows.push(h("tr", {}, [h("td", { class: "pl-empty", colspan: String(columns), text: view.empty_reason })]));
  }
  return h("table", { class: "pl-grid" }, [h("thead", {}, [head]), h("tbody", {}, rows)]);
}

const VERDICT_WORDS = { true: "pass", false: "fail" };

function verdictText(passed, score) {
  return VERDICT_WORDS[passed] ?? formatNumber(score);
}

function baselineOutput(text, diff) {
  const body = outputText({ output: text, diff });
  return collapsible(body, (text ?? "").length);
}

function verdictRowView(row) {
  const change = `${verdictText(row.baseline_passed, row.baseline_score)} → ${verdictText(row.passed, row.score)}`;
  return h("tr", { class: `pl-verdict-row pl-${row.change}`, "data-row": String(row.row_index) }, [
    inputsView(row.inputs),
    h("td", {}, [
      h("div", { class: "pl-verdict-variant", text: row.variant }),
      h("div", { class: "pl-caption", text: `baseline: ${row.baseline_variant}` }),
      h("span", { class: "pl-badge", text: row.evaluator }),
    ]),
    h("td", { class: "pl-verdict-output pl-was" }, [baselineOutput(row.baseline_output, null)]),
    h("td", { class: "pl-verdict-output pl-now" }, [baselineOutput(row.output, row.diff)]),
    h("td", { class: "pl-verdict-change" }, [
      h("b", { text: row.change }),
      h("div", { text: change }),
    ]),
  ]);
}

function baselinePager(model, view) {
  const go = (page) => save(model, "baseline_page", page);
  const previous = h("button", { text: "‹ previous", onclick: () => go(view.page - 1) });
  const next = h("button", { text: "next ›", onclick: () => go(view.page + 1) });
  previous.disabled = view.page <= 0;
  next.disabled = view.page >= view.page_count - 1;
  const shown = view.total ? `rows ${view.first}–${view.last} of ${view.total}` : "no rows";
  return h("span", { class: "pl-pager" }, [
    previous, h("span", { class: "pl-baseline-page", text: `page ${view.page + 1} of ${view.page_count} · ${shown}` }), next,
  ]);
}

// The experiment against its baseline, row by row: changed verdicts first, both outputs side by side,
// the experiment's output diffed against the baseline's.
function baselineView(model) {
  const view = model.get("baseline_view") ?? {};
  if (view.error) return h("div", { class: "pl-message pl-baseline-error", text: view.error });
  if (!view.rows) return h("div", { class: "pl-caption", text: "comparing with the baseline…" });
  const counts = view.counts;
  const caption = h("div", { class: "pl-baseline-caption" }, [
    h("b", { text: `vs baseline ${view.baseline}: ` }),
    document.createTextNode(`${counts.regressed} regressed, ${counts.improved} improved, ${counts.unchanged} unchanged`),
  ]);
  const head = h("tr", {}, ["input", "variant", "baseline output", "output", "verdict"].map((text) => h("th", { text })));
  const rows = view.rows.map(verdictRowView);
  if (!rows.length) {
    rows.push(h("tr", {}, [h("td", { class: "pl-empty", colspan: "5", text: "No row both experiments ran." })]));
  }
  const table = h("table", { class: "pl-verdicts" }, [h("thead", {}, [head]), h("tbody", {}, rows)]);
  return h("div", {}, [caption, baselinePager(model, view), table]);
}

const CHART_CHOICES = new WeakMap();

function chartBar(bar, top) {
  const share = (value) => `${(100 * Math.min(top, Math.max(0, value))) / top}%`;
  const track = h("div", { class: "pl-bar-track" });
  if (bar.mean !== null) {
    track.append(h("div", { class: bar.mean === 0 ? "pl-bar pl-bar-zero" : "pl-bar" }));
    track.lastChild.style.width = share(bar.mean);
  }
  if (bar.low !== null && bar.high !== null) {
    const whisker = h("div", { class: "pl-whisker" });
    whisker.style.left = share(bar.low);
    whisker.style.width = `calc(${share(bar.high)} - ${share(bar.low)})`;
    track.append(whisker);
  }
  return h("div", { class: "pl-chart-row", title: `${bar.variant}: ${bar.text}` }, [
    h("div", { class: "pl-bar-label", text: bar.variant }),
    track,
    h("div", { class: "pl-bar-value", text: bar.text }),
  ]);
}

// One bar per variant for the evaluator chosen (the first until the user picks another), each
// labelled with its variant and its mean and interval, a mean of 0 included.
function chartView(model) {
  const charts = model.get("chart") ?? [];
  if (!charts.length) return null;
  const chosen = charts.find((chart) => chart.evaluator === CHART_CHOICES.get(model)) ?? charts[0];
  const box = h("div", { class: "pl-chart-box" });
  let name = h("b", { text: chosen.evaluator });
  if (charts.length > 1) {
    name = h("select", {
      class: "pl-chart-evaluator",
      "aria-label": "evaluator shown in the chart",
      onchange: () => {
        CHART_CHOICES.set(model, name.value);
        box.replaceWith(chartView(model));
      },
    }, charts.map((chart) => h("option", { value: chart.evaluator, text: chart.evaluator })));
    name.value = chosen.evaluator;
  }
  const caption = h("div", { class: "pl-caption" }, [name, document.createTextNode(": mean and 95% CI, one bar per variant")]);
  const bars = h("div", { class: "pl-chart" }, chosen.bars.map((bar) => chartBar(bar, chosen.top)));
  box.append(caption, bars);
  return box;
}

function summaryView(model) {
  const summary = model.get("summary");
  if (!summary.length) return h("div");
  const names = summary[0].scores.map((score) => score.name);
  const head = h("tr", {}, ["variant", "runs", "errors", ...names, "cost", "latency p50"].map((text) => h("th", { text })));
  const rows = summary.map((variant) =>
    h("tr", {}, [
      h("td", { text: variant.variant }),
      h("td", { text: variant.cancelled_runs ? `${variant.runs} (+${variant.cancelled_runs} cancelled)` : String(variant.runs) }),
      h("td", { text: `${formatNumber(100 * variant.error_rate, 0)}%` }),
      ...variant.scores.map((score) =>
        h("td", { title: score.verdict, text: `${formatNumber(score.mean)} [${formatNumber(score.low)}, ${formatNumber(score.high)}]` })),
      h("td", { text: summaryCost(variant) }),
      h("td", { text: formatLatency(variant.latency_p50_ms) ?? "–" }),
    ]));
  const table = h("table", { class: "pl-summary" }, [h("thead", {}, [head]), h("tbody", {}, rows)]);
  return h("div", { class: "pl-header" }, [table, chartView(model)]);
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

function shownWhen(model, trait, isShown, node) {
  const update = () => { node.hidden = !isShown(model.get(trait)); };
  update();
  model.on(`change:${trait}`, update);
  return node;
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
    const matching = view.counting ? "…" : view.matching;
    const filtered = view.matching === view.total ? "" : ` (filtered from ${view.total})`;
    const shown = view.matching || view.counting ? `rows ${view.first}–${view.last} of ${matching}` : "no rows";
    label.textContent = `page ${view.page + 1} of ${view.counting ? "…" : view.page_count} · ${shown}${filtered}`;
    previous.disabled = view.page <= 0;
    next.disabled = view.page >= view.page_count - 1;
  };
  update();
  model.on("change:view", update);
  return h("span", { class: "pl-pager" }, [previous, label, next]);
}

function textBox(model, trait, className, placeholder) {
  const box = h("input", { type: "text", class: className, placeholder, "aria-label": placeholder });
  box.value = model.get(trait);
  box.addEventListener("change", () => save(model, trait, box.value));
  model.on(`change:${trait}`, () => { box.value = model.get(trait); });
  return box;
}

// The widget's modes (the report has neither): blind rating, and the "vs baseline" view with the
// experiment it compares with; a blind grid offers no baseline view, which names variants.
function modeControls(model) {
  if (model.get("blind") === undefined) return null;
  const baseline = h("span", { class: "pl-baseline-mode" }, [
    checkbox(model, "show_baseline", "vs baseline"),
    shownWhen(model, "show_baseline", Boolean,
      h("span", {}, [textBox(model, "compared_to", "pl-compared-to", "baseline experiment (empty: the latest earlier)")])),
  ]);
  return h("div", { class: "pl-controls pl-modes" }, [
    checkbox(model, "blind", "blind"),
    shownWhen(model, "blind", (blind) => !blind, baseline),
    shownWhen(model, "blind", Boolean, h("span", {
      class: "pl-caption pl-blind-note",
      text: "blind: variant names and the summary are hidden, each row shows its outputs in an order of its own",
    })),
  ]);
}

function controls(model) {
  return h("div", { class: "pl-controls" }, [
    checkbox(model, "errors_only", "run errors"),
    shownWhen(model, "check_options", (options) => options.length > 0,
      h("label", { text: "checks " }, [select(model, "failed_check", "check_options", "pl-failed-check")])),
    shownWhen(model, "variants", (variants) => variants.length > 1, checkbox(model, "disagree_only", "variants disagree")),
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
    if (model.get("notice")) title.append(h("div", { class: "pl-notice", text: model.get("notice") }));
  };
  update();
  for (const trait of ["title", "finished", "expected_runs", "message"]) model.on(`change:${trait}`, update);
  return title;
}

function render({ model, el }) {
  const summary = h("div", { class: "pl-summary-box" }, [summaryView(model)]);
  const grid = h("div", { class: "pl-grid-box" }, [gridView(model)]);
  for (const trait of ["summary", "chart"]) model.on(`change:${trait}`, () => summary.replaceChildren(summaryView(model)));
  const redrawGrid = () => grid.replaceChildren(gridView(model));
  for (const trait of ["view", "variants", "evaluators", "blind"]) model.on(`change:${trait}`, redrawGrid);
  el.classList.add("promptlab-widget");
  el.append(...[titleView(model), summary, modeControls(model)].filter(Boolean));
  const gridMode = h("div", { class: "pl-grid-mode" }, [controls(model), grid]);
  if (model.get("show_baseline") === undefined) {
    el.append(gridMode);
    return;
  }
  const verdicts = h("div", { class: "pl-baseline-box" }, [baselineView(model)]);
  model.on("change:baseline_view", () => verdicts.replaceChildren(baselineView(model)));
  el.append(shownWhen(model, "show_baseline", (shown) => !shown, gridMode), shownWhen(model, "show_baseline", Boolean, verdicts));
}

export default { render };

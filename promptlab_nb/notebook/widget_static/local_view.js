// The comparison grid's view computed in the page, for the report and for notebooks shown without a
// kernel: the same filters, search, sort, word diffs and pages as the kernel computes for the widget
// (notebook/widget_state.py, notebook/widget_diff.py), from the rows embedded in the page. Its model
// answers get, set, save_changes, on and send as the widget's model does, so comparison.js renders it.

const ROW_ORDER = "row";
const SCORE_SORT = "score";
const VARIANT_BASELINE = "variant";
const INPUT_BASELINE = "input";
const ANY_CHECK = "*";
const MAX_DIFF_TOKENS = 1000;
const WORD_TOKEN = /[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]+|\s+/gu;
const QUERY_DEFAULTS = {
  page: 0,
  errors_only: false,
  failed_check: "",
  disagree_only: false,
  search: "",
  sort_by: ROW_ORDER,
  descending: false,
  baseline: "",
};

// A cell arrives as an array of values in the order of payload.cell_fields, its variant as a
// position and its scores and reasons as arrays in the order of payload.evaluators.
function decodedCell(values, { cell_fields: fields, variants, evaluators }) {
  const cell = Object.fromEntries(fields.map((field, index) => [field, values[index] ?? null]));
  const scores = cell.scores ?? [];
  const reasons = cell.reasons ?? [];
  cell.variant = variants[cell.variant];
  cell.scores = Object.fromEntries(evaluators.map((name, index) => [name, scores[index] ?? null]));
  cell.reasons = Object.fromEntries(evaluators.map((name, index) => [name, reasons[index] ?? null]));
  return cell;
}

function decodedRow([rowIndex, inputValues, cells], payload) {
  const inputs = Object.fromEntries(payload.input_columns.map((column, index) => [column, inputValues[index] ?? ""]));
  const repeats = {};
  for (const values of cells) {
    const cell = decodedCell(values, payload);
    (repeats[cell.variant] ??= []).push(cell);
  }
  const firsts = {};
  for (const [variant, runs] of Object.entries(repeats)) {
    runs.sort((a, b) => a.repeat - b.repeat);
    firsts[variant] = runs[0];
  }
  return { row_index: rowIndex, inputs, cells: firsts, repeats, haystack: null };
}

function haystack(row) {
  if (row.haystack === null) {
    const outputs = Object.values(row.cells).map((cell) => cell.output || cell.error || "");
    row.haystack = [...Object.values(row.inputs), ...outputs].join("\n").toLowerCase();
  }
  return row.haystack;
}

function hasRunError(row) {
  return Object.values(row.cells).some((cell) => cell.status === "error");
}

function failedACheck(row, evaluators) {
  const ran = Object.values(row.cells).filter((cell) => cell.status === "ok");
  return ran.some((cell) => evaluators.some((name) => cell.scores[name] === 0));
}

function distinctCount(values) {
  return new Set(values.map((value) => (value === undefined ? null : value))).size;
}

function variantsDisagree(row, evaluators) {
  const cells = Object.values(row.cells);
  if (cells.length < 2) return false;
  if (distinctCount(cells.map((cell) => cell.status)) > 1) return true;
  if (evaluators.length) return evaluators.some((name) => distinctCount(cells.map((cell) => cell.scores[name])) > 1);
  const normalised = (text) => (text ?? "").split(/\s+/).filter(Boolean).join(" ").toLowerCase();
  return distinctCount(cells.map((cell) => normalised(cell.output))) > 1;
}

function repeatPassed(cell) {
  return cell.status === "ok" && !Object.values(cell.scores).some((value) => value === 0);
}

// difflib.SequenceMatcher(a, b, autojunk=False).get_opcodes(), as Python computes it, so that a diff
// reads the same in the report as in the widget.
function longestMatch(a, bIndex, aLow, aHigh, bLow, bHigh) {
  let best = [aLow, bLow, 0];
  let lengths = new Map();
  for (let i = aLow; i < aHigh; i += 1) {
    const next = new Map();
    for (const j of bIndex.get(a[i]) ?? []) {
      if (j < bLow) continue;
      if (j >= bHigh) break;
      const k = (lengths.get(j - 1) ?? 0) + 1;
      next.set(j, k);
      if (k > best[2]) best = [i - k + 1, j - k + 1, k];
    }
    lengths = next;
  }
  return best;
}

function matchingBlocks(a, b) {
  const bIndex = new Map();
  b.forEach((token, j) => {
    if (!bIndex.has(token)) bIndex.set(token, []);
    bIndex.get(token).push(j);
  });
  const queue = [[0, a.length, 0, b.length]];
  const blocks = [];
  while (queue.length) {
    const [aLow, aHigh, bLow, bHigh] = queue.pop();
    const [i, j, k] = longestMatch(a, bIndex, aLow, aHigh, bLow, bHigh);
    if (!k) continue;
    blocks.push([i, j, k]);
    if (aLow < i && bLow < j) queue.push([aLow, i, bLow, j]);
    if (i + k < aHigh && j + k < bHigh) queue.push([i + k, aHigh, j + k, bHigh]);
  }
  blocks.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const merged = [];
  for (const block of blocks) {
    const last = merged[merged.length - 1];
    if (last && last[0] + last[2] === block[0] && last[1] + last[2] === block[1]) last[2] += block[2];
    else merged.push([...block]);
  }
  merged.push([a.length, b.length, 0]);
  return merged;
}

function opcodes(a, b) {
  const codes = [];
  let i = 0;
  let j = 0;
  for (const [aStart, bStart, size] of matchingBlocks(a, b)) {
    if (i < aStart || j < bStart) codes.push(["change", i, aStart, j, bStart]);
    i = aStart + size;
    j = bStart + size;
    if (size) codes.push(["equal", aStart, i, bStart, j]);
  }
  return codes;
}

function appendSegment(segments, kind, tokens) {
  const text = tokens.join("");
  if (!text) return;
  const last = segments[segments.length - 1];
  if (last && last[0] === kind) last[1] += text;
  else segments.push([kind, text]);
}

// Kept words as they are; each change one removed phrase then one added phrase, the spaces between
// changed words going with the change (widget_diff._compared).
function comparedSegments(old, fresh) {
  const codes = opcodes(old, fresh);
  const segments = [];
  let removed = [];
  let added = [];
  codes.forEach(([operation, oldStart, oldEnd, newStart, newEnd], index) => {
    const betweenChanges = index > 0 && index < codes.length - 1;
    const kept = fresh.slice(newStart, newEnd);
    if (operation === "equal" && !(betweenChanges && kept.every((token) => !token.trim()))) {
      appendSegment(segments, "-", removed);
      appendSegment(segments, "+", added);
      removed = [];
      added = [];
      appendSegment(segments, "=", kept);
      return;
    }
    removed = removed.concat(old.slice(oldStart, oldEnd));
    added = added.concat(fresh.slice(newStart, newEnd));
  });
  appendSegment(segments, "-", removed);
  appendSegment(segments, "+", added);
  return segments;
}

function wordDiff(baseline, output) {
  const old = baseline.match(WORD_TOKEN) ?? [];
  const fresh = output.match(WORD_TOKEN) ?? [];
  const segments = comparedSegments(old.slice(0, MAX_DIFF_TOKENS), fresh.slice(0, MAX_DIFF_TOKENS));
  if (Math.max(old.length, fresh.length) > MAX_DIFF_TOKENS) {
    segments.push(["~", fresh.slice(MAX_DIFF_TOKENS).join("")]);
  }
  return segments;
}

class LocalGrid {
  constructor(payload) {
    this.variants = payload.variants;
    this.evaluators = payload.evaluators;
    this.inputColumns = payload.input_columns;
    this.rows = payload.rows.map((row) => decodedRow(row, payload));
  }

  get comparesVariants() {
    return this.variants.length > 1;
  }

  get finished() {
    return this.rows.reduce((count, row) => count + Object.keys(row.cells).length, 0);
  }

  sortOptions() {
    const options = [{ key: ROW_ORDER, label: "row order" }];
    this.evaluators.forEach((evaluator, evaluatorIndex) => {
      this.variants.forEach((variant, variantIndex) => {
        options.push({ key: `${SCORE_SORT}:${evaluatorIndex}:${variantIndex}`, label: `${evaluator} of ${variant}` });
      });
    });
    return options;
  }

  checkOptions() {
    if (!this.evaluators.length) return [];
    const options = [{ key: "", label: "all checks" }, { key: ANY_CHECK, label: "failed any check" }];
    return options.concat(this.evaluators.map((name) => ({ key: name, label: `failed ${name}` })));
  }

  baselineOptions() {
    const options = [{ key: "", label: "no diff" }];
    if (this.comparesVariants) {
      this.variants.forEach((variant, index) => options.push({ key: `${VARIANT_BASELINE}:${index}`, label: `vs ${variant}` }));
    }
    return options.concat(this.inputColumns.map((column) => ({ key: `${INPUT_BASELINE}:${column}`, label: `vs input ${column}` })));
  }

  checks(failedCheck) {
    if (failedCheck === ANY_CHECK) return this.evaluators;
    return this.evaluators.includes(failedCheck) ? [failedCheck] : [];
  }

  filters(query) {
    const filters = [];
    if (query.errors_only) filters.push(["has a run error", hasRunError]);
    const checks = this.checks(query.failed_check);
    if (checks.length) {
      const label = query.failed_check === ANY_CHECK ? "failed any check" : `failed ${checks[0]}`;
      filters.push([label, (row) => failedACheck(row, checks)]);
    }
    if (query.disagree_only && this.comparesVariants) {
      filters.push(["has variants that disagree", (row) => variantsDisagree(row, this.evaluators)]);
    }
    const term = query.search.trim().toLowerCase();
    if (term) filters.push([`contains '${query.search.trim()}'`, (row) => haystack(row).includes(term)]);
    return filters;
  }

  sorted(rows, query) {
    const direction = query.descending ? -1 : 1;
    if (!query.sort_by.startsWith(`${SCORE_SORT}:`)) {
      return rows.sort((a, b) => direction * (a.row_index - b.row_index));
    }
    const [, evaluatorIndex, variantIndex] = query.sort_by.split(":");
    const evaluator = this.evaluators[Number(evaluatorIndex)];
    const variant = this.variants[Number(variantIndex)];
    const score = (row) => row.cells[variant]?.scores[evaluator] ?? null;
    const scored = rows.filter((row) => score(row) !== null);
    const unscored = rows.filter((row) => score(row) === null);
    scored.sort((a, b) => direction * (score(a) - score(b)));
    return scored.concat(unscored);
  }

  matchingRows(query) {
    let rows = this.rows;
    for (const [, keep] of this.filters(query)) rows = rows.filter(keep);
    return this.sorted(rows === this.rows ? [...rows] : rows, query);
  }

  page(query) {
    const rows = this.matchingRows(query);
    const pageSize = Math.max(1, query.page_size);
    const pageCount = Math.max(1, Math.ceil(rows.length / pageSize));
    const page = Math.min(Math.max(0, query.page), pageCount - 1);
    const shown = rows.slice(page * pageSize, (page + 1) * pageSize);
    return {
      rows: shown.map((row) => this.rowView(row, query.baseline)),
      page,
      page_count: pageCount,
      first: shown.length ? page * pageSize + 1 : 0,
      last: page * pageSize + shown.length,
      matching: rows.length,
      total: this.rows.length,
      empty_reason: rows.length ? "" : this.emptyReason(query),
    };
  }

  emptyReason(query) {
    if (!this.rows.length) return "No rows yet.";
    const labels = this.filters(query).map(([label]) => label);
    return labels.length ? `No row of ${this.rows.length} ${labels.join(" and ")}.` : "No rows.";
  }

  rowView(row, baseline) {
    const [baselineVariant, baselineText] = this.baseline(row, baseline);
    return {
      row_index: row.row_index,
      inputs: this.inputColumns.map((column) => [column, row.inputs[column] ?? ""]),
      cells: this.variants.map((variant) =>
        repeatedCell(row.repeats[variant] ?? [], variant !== baselineVariant ? baselineText : null)),
    };
  }

  baseline(row, baseline) {
    const separator = baseline.indexOf(":");
    const kind = separator < 0 ? baseline : baseline.slice(0, separator);
    const name = separator < 0 ? "" : baseline.slice(separator + 1);
    if (kind === VARIANT_BASELINE && /^\d+$/.test(name) && Number(name) < this.variants.length) {
      const variant = this.variants[Number(name)];
      const cell = row.cells[variant];
      return [variant, cell && cell.status === "ok" ? cell.output : null];
    }
    if (kind === INPUT_BASELINE && name in row.inputs) return [null, row.inputs[name]];
    return [null, null];
  }
}

function diffedCell(cell, baselineText) {
  const compared = baselineText !== null && cell.status === "ok" && cell.output !== null;
  return { ...cell, diff: compared ? wordDiff(baselineText, cell.output) : null };
}

function repeatedCell(repeats, baselineText) {
  if (!repeats.length) return null;
  const views = repeats.map((cell) => diffedCell(cell, baselineText));
  const passed = repeats.filter(repeatPassed).length;
  return { ...views[0], repeats: views, passed, repeat_count: views.length };
}

// A model like the widget's: query changes (set, then save_changes) compute the page again and
// announce what changed; a change of anything but the page goes back to the first page.
function localModel(payload) {
  const grid = new LocalGrid(payload);
  const values = {
    title: payload.title,
    notice: payload.notice,
    variants: grid.variants,
    evaluators: grid.evaluators,
    summary: payload.summary,
    chart: payload.chart,
    sort_options: grid.sortOptions(),
    baseline_options: grid.baselineOptions(),
    check_options: grid.checkOptions(),
    finished: grid.finished,
    expected_runs: payload.expected_runs,
    message: "",
    read_only: true,
    page_size: payload.page_size,
    ...QUERY_DEFAULTS,
  };
  const listeners = new Map();
  const changed = new Set();
  const announce = (name) => (listeners.get(`change:${name}`) ?? []).forEach((listener) => listener());
  const query = () => Object.fromEntries(["page_size", ...Object.keys(QUERY_DEFAULTS)].map((name) => [name, values[name]]));
  values.view = grid.page(query());
  return {
    get: (name) => values[name],
    set(name, value) {
      if (values[name] === value) return;
      values[name] = value;
      changed.add(name);
    },
    save_changes() {
      if (!changed.size) return;
      if ([...changed].some((name) => name !== "page") && values.page !== 0) {
        values.page = 0;
        changed.add("page");
      }
      values.view = grid.page(query());
      changed.add("view");
      const names = [...changed];
      changed.clear();
      names.forEach(announce);
    },
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, []);
      listeners.get(event).push(listener);
    },
    send() {},
  };
}

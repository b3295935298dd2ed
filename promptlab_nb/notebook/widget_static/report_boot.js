// Starts a report: reads the rows embedded next to it as JSON, renders them with comparison.js over
// the model local_view.js computes, and hides the static summary and table shown where scripts do not run.

function bootReport(id) {
  const root = document.getElementById(id);
  const data = document.getElementById(`${id}-data`);
  if (!root || !data || root.dataset.started) return;
  root.dataset.started = "true";
  const el = document.createElement("div");
  render({ model: localModel(JSON.parse(data.textContent)), el });
  for (const fallback of root.querySelectorAll(".pl-report-static")) fallback.hidden = true;
  root.append(el);
}

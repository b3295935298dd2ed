"""What a report of an experiment shows, gathered from the store: the widget's header (title, summary
per variant with CIs, chart) over every run that ran, and the first rows of the grid
(services/report_rows.py). display/report.py lays it out as a page or a notebook output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptlab_nb.display.tables import experiment_header_text
from promptlab_nb.notebook.widget_state import chart_series, summary_rows
from promptlab_nb.schemas.report_records import ReportContent
from promptlab_nb.services.experiments import ExperimentService
from promptlab_nb.services.report_rows import ReportRowsService
from promptlab_nb.services.run_summary import experiment_summary

if TYPE_CHECKING:
    from promptlab_nb.notebook.widget import ComparedExperiment


def report_content(
    experiment: ComparedExperiment, max_rows: int, summary: list[dict[str, Any]] | None = None
) -> ReportContent:
    """The report of ``experiment``'s first ``max_rows`` rows; ``summary`` saves computing the header's
    summary rows again when a widget on the experiment has them."""
    record = experiment.record
    with experiment.database.session() as session:
        rows = ReportRowsService(session).rows(record.id, max_rows)
        counts = ExperimentService(session).status_counts(record.id)
        if summary is None:
            table = experiment_summary(session.connection(), record.id, ran_only=True)
            summary = summary_rows(table, rows.evaluators) if table is not None else []
    variants = [variant.label for variant in record.variants]
    return ReportContent(
        title=experiment_header_text(
            record.name, record.status, len(variants), record.row_count, record.repeats, counts
        ),
        variants=variants,
        summary=summary,
        chart=chart_series(summary),
        rows=rows,
        expected_runs=len(rows.rows) * len(variants),
        page_size=experiment.settings.display_rows,
    )

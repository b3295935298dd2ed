"""The comparison grid computed in the store: one grid row per data row, filtered, searched, sorted and cut
into pages in SQL (filters and sorts on statuses and scores over a compact index of the cells read
from it once, their first pages found in SQL before it is read), so that only the runs of the visible page
are read. A grid row's cell for a variant is that
variant's lowest repeat on the row (the one the widget shows first)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from promptlab_nb.core.vocabulary import RunStatus
from promptlab_nb.services.results import input_path, input_text, planned_for_whole_experiments, query_frame
from promptlab_nb.store.text_grams import INPUTS, SHOWN, block_ranges, candidate_blocks

SHOWN_TEXT = "coalesce(nullif(c.output, ''), c.error, '')"
SPACED_OUTPUT = r"lower(trim(regexp_replace(coalesce(c.output, ''), '\s+', ' ', 'g')))"


@dataclass(frozen=True)
class GridFilter:
    """Which data rows the grid keeps and how it orders them. ``failed_checks``: evaluators a run that ran
    scored 0 on; ``disagree_on``: None (off), () to compare outputs, or the evaluators whose scores are
    compared; ``search``: text looked for in the inputs (``search_keys``), outputs and errors, any case;
    ``sort_evaluator`` and ``sort_variant_id``: order by that score (unscored rows last), else by row."""

    errors_only: bool = False
    failed_checks: tuple[str, ...] = ()
    disagree_on: tuple[str, ...] | None = None
    search: str = ""
    search_keys: tuple[str, ...] = ()
    sort_evaluator: str | None = None
    sort_variant_id: str | None = None
    descending: bool = False


@dataclass(frozen=True)
class GridSize:
    """How many data rows have a run, how many (row, variant) cells, and the most runs in one cell;
    ``every_row`` when each data row of the experiment has a run."""

    rows: int
    cells: int
    repeats: int
    every_row: bool

    @property
    def repeated(self) -> bool:
        return self.repeats > 1


RUN_COUNT_QUERY = "select count(*) as runs from run where experiment_id = :experiment_id"

SIZE_QUERY = """
select count(distinct row_index) as rows, count(*) as cells, max(runs) as repeats
from (select variant_id, row_index, count(*) as runs from run where experiment_id = :experiment_id group by 1, 2) cells
"""


def grid_size(connection, experiment_id: str, rows: int, variants: int, repeats: int) -> GridSize:
    """The grid's size for an experiment planned as ``rows`` x ``variants`` x ``repeats``. A run per
    planned cell and repeat (each stored once) fills the plan: then only the runs are counted."""
    runs = int(query_frame(connection, RUN_COUNT_QUERY, experiment_id=experiment_id)["runs"].iloc[0])
    if runs and runs == rows * variants * repeats:
        return GridSize(rows, rows * variants, repeats, every_row=True)
    size = query_frame(connection, SIZE_QUERY, experiment_id=experiment_id).iloc[0]
    counted = int(size["rows"])
    return GridSize(counted, int(size["cells"]), int(size["repeats"] or 0), every_row=counted == rows)


CELL_COLUMNS = "r.id, r.variant_id, r.row_index, r.status, r.output, r.error"


def _shown_cells(repeated: bool, bounded: bool = False) -> str:
    """The cell shown for each (variant, row): its lowest repeat (the only run without repeats); when
    ``bounded``, of the rows between ``:first_row`` and ``:last_row`` only."""
    within = " and row_index between :first_row and :last_row" if bounded else ""
    if not repeated:
        return f"select {CELL_COLUMNS} from run r where r.experiment_id = :experiment_id{within}"
    return f"""
select {CELL_COLUMNS} from run r
join (select variant_id, row_index, min("repeat") as first_repeat from run
      where experiment_id = :experiment_id{within} group by variant_id, row_index) f
  on f.variant_id = r.variant_id and f.row_index = r.row_index and f.first_repeat = r."repeat"
where r.experiment_id = :experiment_id{within.replace("row_index", "r.row_index")}"""


class _Query:
    """A grid query's SQL and its parameters. A filter that keeps rows with some cell matching (errors,
    failed checks, search) selects those rows before the cells are grouped by row; disagreement, which
    compares the cells of a row, and the sort key are computed per row. The cells are not materialized:
    each use reads the run table's columns it needs (a million outputs held at once weigh 700 MB)."""

    def __init__(self, connection, experiment_id: str, grid: GridFilter, bounded: bool = False):
        self.connection, self.experiment_id, self.grid, self.bounded = connection, experiment_id, grid, bounded
        self._candidates: dict[str, np.ndarray] | None = None
        self.parameters: dict[str, object] = {}
        self.evaluators = list(
            dict.fromkeys([*grid.failed_checks, *(grid.disagree_on or ()), *_present(grid.sort_evaluator)])
        )
        for index, name in enumerate(self.evaluators):
            self.parameters[f"evaluator_{index}"] = name

    def bind(self, name: str, value: object) -> str:
        self.parameters[name] = value
        return f":{name}"

    def score(self, evaluator: str) -> str:
        return f"s{self.evaluators.index(evaluator)}.value"

    def joins(self, evaluators: Sequence[str]) -> str:
        """Each evaluator's score of cell ``c`` as ``s<index>.value`` (index in ``self.evaluators``). Within a
        range of rows, the scores of the range's cells are selected first: joined to the cells directly,
        DuckDB hashes every score of the experiment to find a few thousand (60-110 ms for a range at a
        million runs, 35-50 ms when they are selected first)."""
        joins = []
        for name in evaluators:
            index = self.evaluators.index(name)
            scores = f"s{index}.experiment_id = :experiment_id and s{index}.evaluator = :evaluator_{index}"
            if self.bounded:
                joins.append(
                    f"left join (select s{index}.run_id, s{index}.value from score s{index} where {scores} "
                    f"and s{index}.run_id in (select c.id from c)) s{index} on s{index}.run_id = c.id"
                )
            else:
                joins.append(f"left join score s{index} on s{index}.run_id = c.id and {scores}")
        return " ".join(joins)

    def row_filters(self, row: str = "c.row_index") -> list[str]:
        """Conditions on the row index ``row``: its row has a cell that failed to run, failed a check, or
        shows the text (or its data does)."""
        grid, filters = self.grid, []
        if grid.errors_only:
            filters.append(f"{row} in (select c.row_index from c where c.status = '{RunStatus.ERROR}')")
        if grid.failed_checks:
            failed = " or ".join(f"{self.score(name)} = 0" for name in grid.failed_checks)
            filters.append(
                f"{row} in (select c.row_index from c {self.joins(grid.failed_checks)} "
                f"where c.status = '{RunStatus.OK}' and ({failed}))"
            )
        if grid.search.strip():
            filters.append(self._search(grid.search.strip(), row))
        return filters

    def row_conditions(self) -> list[str]:
        if self.grid.disagree_on is None:
            return []
        return [self._disagreement(self.grid.disagree_on)]

    def filters_rows(self) -> bool:
        return bool(self.row_filters() or self.row_conditions())

    def _disagreement(self, evaluators: Sequence[str]) -> str:
        """Cells that differ in status, in a score (one scored and one not differ too) or, without
        evaluators, in their outputs once case and spacing are ignored."""
        differences = ["count(distinct c.status) > 1"]
        for name in evaluators:
            value = self.score(name)
            differences.append(f"count(distinct {value}) > 1 or (count({value}) > 0 and count({value}) < count(*))")
        if not evaluators:
            differences.append(f"count(distinct {SPACED_OUTPUT}) > 1")
        return f"(count(*) > 1 and ({' or '.join(differences)}))"

    def _search(self, term: str, row: str) -> str:
        """Rows whose cells show ``term`` (or whose data do), any case: the term lowered as Python lowers it
        (a final sigma stays one) found as a literal substring of the lowered text with ``strpos``, which
        DuckDB runs about three times faster than ``ilike ... escape``; only in the blocks of rows whose
        texts hold the term's trigrams (store/text_grams.py)."""
        lowered = self.bind("term", term.lower())
        shown = self._in_candidate_blocks(SHOWN, term, "c.row_index")
        found = f"{row} in (select c.row_index from c where {shown}{_contains(SHOWN_TEXT, lowered)})"
        in_inputs = " or ".join(
            _contains(self._input(index, key), lowered) for index, key in enumerate(self.grid.search_keys)
        )
        if not in_inputs:
            return found
        in_inputs = f"{self._in_candidate_blocks(INPUTS, term, 'er.row_index')}({in_inputs})"
        if row == "er.row_index":
            return f"({found} or {in_inputs})"
        within = " and er.row_index between :first_row and :last_row" if self.bounded else ""
        return (
            f"({found} or {row} in (select er.row_index from experiment_row er "
            f"where er.experiment_id = :experiment_id{within} and {in_inputs}))"
        )

    def _in_candidate_blocks(self, kind: str, term: str, row: str) -> str:
        """A condition, followed by ``and``, keeping the rows ``row`` of the blocks whose texts of ``kind``
        may hold ``term``; empty when the blocks cannot tell."""
        if self._candidates is None:
            self._candidates = candidate_blocks(self.connection, self.experiment_id, term) or {}
        if kind not in self._candidates:
            return ""
        ranges = " or ".join(
            f"{row} between {first} and {last}" for first, last in block_ranges(self._candidates[kind])
        )
        return f"({ranges or 'false'}) and "

    def _input(self, index: int, key: str) -> str:
        self.bind(f"key_{index}", input_path(self.connection, key))
        return input_text(self.connection, "er.inputs", f"key_{index}")

    def order(self) -> tuple[str, str]:
        """The sort key column to select and the ORDER BY that uses it."""
        direction = "desc" if self.grid.descending else "asc"
        if self.grid.sort_evaluator is None:
            return "", f"row_index {direction}"
        variant = self.bind("sort_variant_id", self.grid.sort_variant_id)
        key = f", max(case when c.variant_id = {variant} then {self.score(self.grid.sort_evaluator)} end) as sort_value"
        return key, f"case when sort_value is null then 1 else 0 end, sort_value {direction}, row_index"

    def rows(self, size: GridSize) -> str:
        """The matching data rows with their sort key. Without a condition that compares a row's cells or
        a sort by score, the data rows are filtered one by one instead of grouping every cell by row."""
        cells = f"with c as not materialized ({_shown_cells(size.repeated, self.bounded)})"
        if not self.row_conditions() and self.grid.sort_evaluator is None:
            filters = self.row_filters("er.row_index")
            if not size.every_row:
                filters.append("er.row_index in (select c.row_index from c)")
            if self.bounded:
                filters.append("er.row_index between :first_row and :last_row")
            return f"""
{cells}
select er.row_index from experiment_row er
where {" and ".join(["er.experiment_id = :experiment_id", *filters])}"""
        sort_key, _ = self.order()
        per_row = [*(self.grid.disagree_on or ()), *_present(self.grid.sort_evaluator)]
        filters = self.row_filters()
        where = f"where {' and '.join(filters)}" if filters else ""
        conditions = self.row_conditions()
        having = f"having {' and '.join(conditions)}" if conditions else ""
        return f"""
{cells}
select c.row_index{sort_key}
from c {self.joins(list(dict.fromkeys(per_row)))}
{where}
group by c.row_index
{having}"""


ROW_PAGE_QUERY = """
select row_index from experiment_row where experiment_id = :experiment_id
order by row_index {direction} limit :limit offset :offset
"""


def grid_page(
    connection, experiment_id: str, grid: GridFilter, size: GridSize, offset: int, limit: int
) -> tuple[list[int], int]:
    """The data rows ``offset`` to ``offset + limit`` that ``grid`` keeps, in its order, and how many it
    keeps in all. Without a filter or a sort, when every data row has a run, the page is read from the
    data rows alone."""
    planned_for_whole_experiments(connection)
    query = _Query(connection, experiment_id, grid)
    if size.every_row and not query.filters_rows() and grid.sort_evaluator is None:
        page = query_frame(
            connection,
            ROW_PAGE_QUERY.replace("{direction}", _direction(grid)),
            experiment_id=experiment_id,
            limit=limit,
            offset=offset,
        )
        return [int(index) for index in page["row_index"]], size.rows
    rows = query.rows(size)
    _, order = query.order()
    page_sql = f"select row_index, count(*) over () as matching from ({rows}) matched order by {order} "
    page_sql += "limit :limit offset :offset"
    page = query_frame(
        connection, page_sql, experiment_id=experiment_id, limit=limit, offset=offset, **query.parameters
    )
    if not page.empty:
        return [int(index) for index in page["row_index"]], int(page["matching"].iloc[0])
    return [], grid_count(connection, experiment_id, grid, size)


def grid_count(connection, experiment_id: str, grid: GridFilter, size: GridSize) -> int:
    """How many data rows ``grid`` keeps."""
    planned_for_whole_experiments(connection)
    query = _Query(connection, experiment_id, grid)
    sql = f"select count(*) as matching from ({query.rows(size)}) matched"
    return int(query_frame(connection, sql, experiment_id=experiment_id, **query.parameters)["matching"].iloc[0])


def read_in_ranges(grid: GridFilter) -> bool:
    """Whether ``grid`` keeps rows in row order by what their cells show (text, outputs compared, statuses,
    scores): then its first page is found sooner range by range (``grid_page_in_ranges``) than by reading
    every run, or every cell into the cell index."""
    compares_text = bool(grid.search.strip()) or grid.disagree_on == ()
    return (compares_text or served_by_cell_index(grid)) and grid.sort_evaluator is None


def sorted_by_score_alone(grid: GridFilter) -> bool:
    """Whether ``grid`` sorts by a score and keeps rows by conditions on each cell only (no comparison of a
    row's cells, no text): then its first pages are the best scored rows (``grid_page_by_score``)."""
    return grid.sort_evaluator is not None and grid.disagree_on is None and not grid.search.strip()


def grid_page_by_score(
    connection, experiment_id: str, grid: GridFilter, size: GridSize, offset: int, limit: int, row_count: int
) -> list[int] | None:
    """``grid_page`` of a grid ``sorted_by_score_alone``, found among the rows whose cell of the sorted variant
    has that score (None unless a scored row follows the page: rows without the score come after every
    scored row). When many cells share the lowest score (the highest when descending), as pass/fail checks
    do, the page is among the rows with that score, in row order: read range by range. Else in SQL with
    ORDER BY and LIMIT (the store keeps the best rows and sorts none of the others)."""
    planned_for_whole_experiments(connection)
    wanted = offset + limit + 1
    extreme = _most_extreme_score(connection, experiment_id, grid)
    if extreme is not None and extreme[1] >= wanted * RANGE_GROWTH:
        query = _Query(connection, experiment_id, grid, bounded=True)
        conditions = _scored_cells(query, grid, f"= {query.bind('extreme', extreme[0])}")
        sql = f"""
with c as not materialized ({_shown_cells(size.repeated, bounded=True)})
select c.row_index from c {query.joins([str(grid.sort_evaluator)])}
where {" and ".join(conditions)}
order by c.row_index"""
        rows, found = _rows_in_ranges(connection, experiment_id, query, sql, wanted, row_count, descending=False)
        if found is None:
            return rows[offset : offset + limit]
    query = _Query(connection, experiment_id, grid)
    evaluator = str(grid.sort_evaluator)
    sql = f"""
with c as not materialized ({_shown_cells(size.repeated)})
select c.row_index from c {query.joins([evaluator])}
where {" and ".join(_scored_cells(query, grid, "is not null"))}
order by {query.score(evaluator)} {_direction(grid)}, c.row_index limit :limit offset :offset"""
    page = query_frame(connection, sql, experiment_id=experiment_id, limit=limit + 1, offset=offset, **query.parameters)
    if len(page) <= limit:
        return None
    return [int(index) for index in page["row_index"].iloc[:limit]]


def _scored_cells(query: _Query, grid: GridFilter, score_condition: str) -> list[str]:
    """Conditions on cell ``c``: of the sorted variant, its score ``score_condition``, its row kept by the
    grid's filters."""
    variant = query.bind("sort_variant_id", grid.sort_variant_id)
    value = query.score(str(grid.sort_evaluator))
    return [f"c.variant_id = {variant}", f"{value} {score_condition}", *query.row_filters()]


EXTREME_SCORE_QUERY = """
select value, count(*) as scores from score
where experiment_id = :experiment_id and evaluator = :evaluator and value is not null
group by value order by value {direction} limit 1
"""


def _most_extreme_score(connection, experiment_id: str, grid: GridFilter) -> tuple[float, int] | None:
    """The lowest score of the sorted evaluator in the experiment (the highest when descending), over every
    variant, and how many runs have it; None when none is scored."""
    found = query_frame(
        connection,
        EXTREME_SCORE_QUERY.replace("{direction}", _direction(grid)),
        experiment_id=experiment_id,
        evaluator=grid.sort_evaluator,
    )
    return None if found.empty else (float(found["value"].iloc[0]), int(found["scores"].iloc[0]))


FIRST_RANGE_ROWS = 4_096
RANGE_GROWTH = 8
LAST_ROW = 2**31 - 1


def grid_page_in_ranges(
    connection, experiment_id: str, grid: GridFilter, size: GridSize, offset: int, limit: int, row_count: int
) -> tuple[list[int], int | None]:
    """``grid_page`` of a grid in row order, read range after range of data rows (the first ``FIRST_RANGE_ROWS``,
    then each range ``RANGE_GROWTH`` times the last) from the first row, or the last when descending, until
    the page and the row after it are found. A search then reads the outputs of a few thousand rows, not
    of every run. How many rows match is known only when every range was read (else None)."""
    planned_for_whole_experiments(connection)
    query = _Query(connection, experiment_id, grid, bounded=True)
    sql = f"select row_index from ({query.rows(size)}) matched order by row_index {_direction(grid)}"
    rows, found = _rows_in_ranges(connection, experiment_id, query, sql, offset + limit + 1, row_count, grid.descending)
    return rows[offset : offset + limit], found


def _rows_in_ranges(
    connection, experiment_id: str, query: _Query, sql: str, wanted: int, row_count: int, descending: bool
) -> tuple[list[int], int | None]:
    """The row indexes ``sql`` selects (in the order of the ranges), read range by range until ``wanted``
    are found; how many it selects when every range was read, else None."""
    found: list[int] = []
    for first, last in _row_ranges(row_count, max(FIRST_RANGE_ROWS, wanted), descending):
        rows = query_frame(
            connection, sql, experiment_id=experiment_id, first_row=first, last_row=last, **query.parameters
        )
        found.extend(int(index) for index in rows["row_index"])
        if len(found) >= wanted:
            return found, None
    return found, len(found)


def _row_ranges(row_count: int, first_span: int, descending: bool) -> Iterator[tuple[int, int]]:
    """Ranges (first, last row index) that cover every row from the first, or the last when
    ``descending``, each ``RANGE_GROWTH`` times longer than the one before."""
    start, span = 0, first_span
    while True:
        end = start + span
        final = end >= row_count
        if descending:
            yield (0 if final else row_count - end, LAST_ROW if start == 0 else row_count - 1 - start)
        else:
            yield (start, LAST_ROW if final else end - 1)
        if final:
            return
        start, span = end, span * RANGE_GROWTH


def _direction(grid: GridFilter) -> str:
    return "desc" if grid.descending else "asc"


def _contains(text: str, lowered_term: str) -> str:
    return f"strpos(lower({text}), {lowered_term}) > 0"


def _present(value: str | None) -> list[str]:
    return [] if value is None else [value]


STATUS_CODES = {status: code for code, status in enumerate(RunStatus)}
OTHER_STATUS = len(STATUS_CODES)


class CellIndex:
    """The shown cell of every (row, variant) as small numbers (status code and scores), held in memory:
    about 10 bytes a cell plus 8 a score, so that filtering on run errors, failed checks or disagreeing
    scores, and sorting by a score, take milliseconds once it is read. Searching text, and comparing
    outputs, stay in SQL. The arrays are column-major (a column per variant): comparing the few
    variants of each row is then a pass over whole columns, ten times faster than over short rows."""

    def __init__(self, rows: np.ndarray, statuses: np.ndarray, scores: dict[str, np.ndarray]):
        self.rows, self.statuses, self.scores = rows, statuses, scores

    @classmethod
    def read(
        cls, connection, experiment_id: str, repeated: bool, variant_ids: Sequence[str], evaluators: Sequence[str]
    ) -> CellIndex:
        """The cells of ``variant_ids`` (in that order) with the scores of ``evaluators``."""
        planned_for_whole_experiments(connection)
        query = _Query(connection, experiment_id, GridFilter(failed_checks=tuple(evaluators)))
        codes = " ".join(f"when '{status}' then {code}" for status, code in STATUS_CODES.items())
        positions = " ".join(
            f"when {query.bind(f'variant_{index}', id_)} then {index}" for index, id_ in enumerate(variant_ids)
        )
        scores = "".join(f", {query.score(name)} as e{index}" for index, name in enumerate(evaluators))
        sql = f"""
with shown as not materialized ({_shown_cells(repeated)})
select c.row_index, c.variant, c.status{scores}
from (select id, row_index, case variant_id {positions} end as variant,
             case status {codes} else {OTHER_STATUS} end as status from shown) c
{query.joins(evaluators)}"""
        cells = query_frame(connection, sql, experiment_id=experiment_id, **query.parameters)
        rows = np.unique(cells["row_index"].to_numpy())
        at = (np.searchsorted(rows, cells["row_index"].to_numpy()), cells["variant"].to_numpy(dtype=np.int64))
        shape = (len(rows), len(variant_ids))
        statuses = np.full(shape, -1, dtype=np.int8, order="F")
        statuses[at] = cells["status"].to_numpy(dtype=np.int8)
        by_evaluator = {}
        for index, name in enumerate(evaluators):
            values = np.full(shape, np.nan, order="F")
            values[at] = cells[f"e{index}"].to_numpy(dtype=float, na_value=np.nan)
            by_evaluator[name] = values
        return cls(rows, statuses, by_evaluator)

    def matching(self, grid: GridFilter, variant_ids: Sequence[str]) -> np.ndarray:
        """The row indexes ``grid`` keeps, in its order."""
        keep = np.ones(len(self.rows), dtype=bool)
        present = self.statuses >= 0
        if grid.errors_only:
            keep &= (self.statuses == STATUS_CODES[RunStatus.ERROR]).any(axis=1)
        if grid.failed_checks:
            ran = self.statuses == STATUS_CODES[RunStatus.OK]
            keep &= np.logical_or.reduce([ran & (self.scores[name] == 0) for name in grid.failed_checks]).any(axis=1)
        if grid.disagree_on:
            keep &= self._disagree(grid.disagree_on, present)
        kept = np.flatnonzero(keep)
        if grid.sort_evaluator is None:
            return self.rows[kept[::-1] if grid.descending else kept]
        values = self.scores[grid.sort_evaluator][kept, list(variant_ids).index(str(grid.sort_variant_id))]
        scored = ~np.isnan(values)
        key = -values[scored] if grid.descending else values[scored]
        ordered = kept[scored][np.lexsort((kept[scored], key))]
        return self.rows[np.concatenate([ordered, kept[~scored]])]

    def _disagree(self, evaluators: Sequence[str], present: np.ndarray) -> np.ndarray:
        """Rows with two cells or more that differ in status or in a score (one scored and one not differ)."""
        cells = present.sum(axis=1)
        lowest = np.where(present, self.statuses, np.iinfo(np.int8).max).min(axis=1)
        differ = self.statuses.max(axis=1) != lowest
        for name in evaluators:
            values = np.where(present, self.scores[name], np.nan)
            scored = (~np.isnan(values)).sum(axis=1)
            high = np.where(np.isnan(values), -np.inf, values).max(axis=1)
            low = np.where(np.isnan(values), np.inf, values).min(axis=1)
            differ |= ((scored > 1) & (high != low)) | ((scored > 0) & (scored < cells))
        return (cells > 1) & differ


def served_by_cell_index(grid: GridFilter) -> bool:
    """Whether ``grid`` filters or sorts on statuses and scores only (no text search, no outputs compared)."""
    if grid.search.strip() or grid.disagree_on == ():
        return False
    return bool(grid.errors_only or grid.failed_checks or grid.disagree_on or grid.sort_evaluator)

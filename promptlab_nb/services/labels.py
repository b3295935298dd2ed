"""Labels (``production``, ``staging``) that point at one version of a template or a pipeline, and
the history of their moves."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from promptlab_nb.core.ids import new_id, this_session, utcnow
from promptlab_nb.core.vocabulary import DefinitionKind
from promptlab_nb.store.models import DefinitionLabel, LabelMove

MOVE_COLUMNS = ["label", "version", "previous_version", "moved_by", "moved_at"]


class LabelService:
    """The labels of one kind of definition; every method runs in the caller's unit of work."""

    def __init__(self, session: Session, kind: DefinitionKind):
        self.session = session
        self.kind = kind

    def _of(self, definition_id: str):
        return (DefinitionLabel.kind == self.kind) & (DefinitionLabel.definition_id == definition_id)

    def move(self, definition_id: str, label: str, version: int) -> int | None:
        """Point ``label`` at ``version`` and record the move; returns the version it pointed at before.

        The row is created, or else locked (PostgreSQL; a DuckDB file has one writer at a time) before
        it is read, so two sessions moving one label at once are applied one after the other."""
        if self._created(definition_id, label, version):
            previous = None
        else:
            previous = self._locked_version(definition_id, label)
            self.session.execute(
                update(DefinitionLabel)
                .where(self._of(definition_id), DefinitionLabel.label == label)
                .values(version=version, moved_at=utcnow())
            )
        self.session.add(
            LabelMove(
                id=new_id(),
                kind=self.kind,
                definition_id=definition_id,
                label=label,
                version=version,
                previous_version=previous,
                moved_by=this_session(),
                moved_at=utcnow(),
            )
        )
        self.session.flush()
        return previous

    def _created(self, definition_id: str, label: str, version: int) -> bool:
        statement = (
            insert(DefinitionLabel)
            .values(
                id=new_id(),
                kind=self.kind,
                definition_id=definition_id,
                label=label,
                version=version,
                moved_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["kind", "definition_id", "label"])
            .returning(DefinitionLabel.id)
        )
        return self.session.execute(statement).scalar() is not None

    def _locked_version(self, definition_id: str, label: str) -> int:
        this_label = self._of(definition_id) & (DefinitionLabel.label == label)
        self.session.execute(update(DefinitionLabel).where(this_label).values(moved_at=DefinitionLabel.moved_at))
        return self.session.scalars(select(DefinitionLabel.version).where(this_label)).one()

    def version_of(self, definition_id: str, label: str) -> int | None:
        return self.session.scalar(
            select(DefinitionLabel.version).where(self._of(definition_id), DefinitionLabel.label == label)
        )

    def of_definitions(self, definition_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Each definition's labels (label -> version, by label), in one query."""
        found: dict[str, dict[str, int]] = {definition_id: {} for definition_id in definition_ids}
        if not definition_ids:
            return found
        query = (
            select(DefinitionLabel.definition_id, DefinitionLabel.label, DefinitionLabel.version)
            .where(DefinitionLabel.kind == self.kind, DefinitionLabel.definition_id.in_(list(definition_ids)))
            .order_by(DefinitionLabel.label)
        )
        for definition_id, label, version in self.session.execute(query):
            found[definition_id][label] = version
        return found

    def moves(self, definition_id: str) -> pd.DataFrame:
        """Every move of the definition's labels, oldest first."""
        query = (
            select(*(getattr(LabelMove, column) for column in MOVE_COLUMNS))
            .where(LabelMove.kind == self.kind, LabelMove.definition_id == definition_id)
            .order_by(LabelMove.moved_at, LabelMove.id)
        )
        moves = pd.DataFrame(self.session.execute(query).all(), columns=MOVE_COLUMNS)
        return moves.astype({"version": "int64", "previous_version": "Int64"})


def labels_at(labels: dict[str, int], version: int) -> list[str]:
    """The labels (of ``label -> version``) that point at ``version``."""
    return [label for label, pointed in labels.items() if pointed == version]

"""What templates and pipelines share: names, content-hashed versions, soft delete, restore, duplicate."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar, Generic, TypeVar

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptlab_nb.core import errors
from promptlab_nb.core.ids import utcnow
from promptlab_nb.core.vocabulary import DefinitionKind
from promptlab_nb.engine.diffing import changed_settings, unified_text_diff
from promptlab_nb.schemas.definitions import Definition, DefinitionDiff
from promptlab_nb.schemas.references import check_label, is_latest
from promptlab_nb.services.labels import LabelService, labels_at

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
RecordT = TypeVar("RecordT", bound=Definition)


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class VersionedDefinitions(Generic[RecordT]):
    """Base of TemplateService and PipelineService; subclasses name their tables and record type."""

    kind: ClassVar[str]
    definition_kind: ClassVar[DefinitionKind]
    entity_model: ClassVar[Any]
    version_model: ClassVar[Any]
    owner_column: ClassVar[str]
    not_found: ClassVar[type[errors.DefinitionNotFound]]
    name_taken: ClassVar[type[errors.DefinitionNameTaken]]
    deleted_error: ClassVar[type[errors.DefinitionDeleted]]

    def __init__(self, session: Session):
        self.session = session
        self._labels = LabelService(session, self.definition_kind)

    def check_name(self, name: str) -> str:
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise errors.InvalidName(self.kind, str(name))
        return name

    def _entity(self, name: str):
        entity = self.session.scalar(select(self.entity_model).where(self.entity_model.name == name))
        if entity is None:
            raise self.not_found(name)
        return entity

    def _live_entity(self, name: str):
        entity = self._entity(name)
        if entity.deleted_at is not None:
            raise self.deleted_error(name)
        return entity

    def _owner(self):
        return getattr(self.version_model, self.owner_column)

    def _version_row(self, entity, version: int | None):
        query = select(self.version_model).where(self._owner() == entity.id)
        if version is None:
            query = query.order_by(self.version_model.version.desc()).limit(1)
        else:
            query = query.where(self.version_model.version == version)
        row = self.session.scalar(query)
        if row is None:
            raise self.not_found(entity.name, version)
        return row

    def _to_record(self, entity, row, **extra: Any) -> RecordT:
        raise NotImplementedError

    def _content(self, row) -> dict[str, Any]:
        raise NotImplementedError

    def _record(self, entity, row, **extra: Any) -> RecordT:
        """The record of one version, with the labels that point at it."""
        labels = self._labels.of_definitions([entity.id])[entity.id]
        return self._to_record(entity, row, labels=labels_at(labels, row.version), **extra)

    def _save_content(self, name: str, content: dict[str, Any], description: str | None) -> RecordT:
        self.check_name(name)
        digest = content_hash(content)
        entity = self.session.scalar(select(self.entity_model).where(self.entity_model.name == name))
        if entity is None:
            entity = self.entity_model(name=name)
            self.session.add(entity)
            self.session.flush()
            latest = None
        elif entity.deleted_at is not None:
            raise self.deleted_error(name)
        else:
            latest = self._version_row(entity, None)
            if latest.content_hash == digest:
                return self._record(entity, latest, unchanged=True, previous_version=latest.version)
        row = self.version_model(
            version=(latest.version + 1) if latest else 1,
            description=description if description is not None else (latest.description if latest else None),
            content_hash=digest,
            **{self.owner_column: entity.id},
            **content,
        )
        entity.updated_at = utcnow()
        self.session.add(row)
        self.session.flush()
        return self._to_record(entity, row, previous_version=latest.version if latest else None)

    def get(self, name: str, version: int | None = None, *, label: str | None = None) -> RecordT:
        """The latest version of a live definition, the version its ``label`` points at, or any stored
        version when ``version`` is given. ``label="latest"`` is the latest version."""
        if label is not None and version is not None:
            raise errors.InvalidData(f"Give {name!r} a version or a label, not both.")
        if label is not None and not is_latest(label):
            entity = self._live_entity(name)
            return self._record(entity, self._version_row(entity, self._labelled_version(entity, label)))
        entity = self._entity(name) if version is not None else self._live_entity(name)
        return self._record(entity, self._version_row(entity, version))

    def _labelled_version(self, entity, label: str) -> int:
        version = self._labels.version_of(entity.id, check_label(label))
        if version is None:
            raise errors.LabelNotFound(self.kind, self.not_found.collection, entity.name, label)
        return version

    def label(self, name: str, version: int, label: str) -> RecordT:
        """Point ``label`` (e.g. ``"production"``) at ``version``; the move is kept in ``label_history``."""
        check_label(label)
        if isinstance(version, bool) or not isinstance(version, int):
            raise errors.InvalidData(
                f"Give the version to label as a number, e.g. lab.{self.not_found.collection}.label({name!r}, 3, "
                f"{label!r}); not {version!r}."
            )
        entity = self._live_entity(name)
        row = self._version_row(entity, version)
        self._labels.move(entity.id, label, version)
        return self._record(entity, row)

    def labels(self, name: str) -> dict[str, int]:
        """The labels of a definition and the version each points at."""
        entity = self._entity(name)
        return self._labels.of_definitions([entity.id])[entity.id]

    def label_history(self, name: str) -> pd.DataFrame:
        """Every move of the definition's labels, oldest first: label, version, previous_version, who, when."""
        return self._labels.moves(self._entity(name).id)

    def history(self, name: str) -> list[RecordT]:
        """Every version, oldest first, also for a deleted definition, with the labels on each."""
        entity = self._entity(name)
        rows = self.session.scalars(
            select(self.version_model).where(self._owner() == entity.id).order_by(self.version_model.version)
        ).all()
        labels = self._labels.of_definitions([entity.id])[entity.id]
        return [self._to_record(entity, row, labels=labels_at(labels, row.version)) for row in rows]

    def delete(self, name: str) -> RecordT:
        entity = self._live_entity(name)
        entity.deleted_at = utcnow()
        return self._record(entity, self._version_row(entity, None))

    def restore(self, name: str) -> RecordT:
        entity = self._entity(name)
        entity.deleted_at = None
        entity.updated_at = utcnow()
        return self._record(entity, self._version_row(entity, None))

    def duplicate(self, name: str, new_name: str) -> RecordT:
        source = self._version_row(self._live_entity(name), None)
        self.check_name(new_name)
        existing = self.session.scalar(select(self.entity_model).where(self.entity_model.name == new_name))
        if existing is not None:
            raise self.deleted_error(new_name) if existing.deleted_at else self.name_taken(new_name)
        description = source.description or f"Duplicated from {name}@{source.version}"
        return self._save_content(new_name, self._content(source), description)

    def _labels_of(self, entities: list[Any]) -> dict[str, dict[str, int]]:
        """The labels of each definition, by id, in one query."""
        return self._labels.of_definitions([entity.id for entity in entities])

    def _latest_rows(self) -> list[tuple[Any, Any]]:
        """(entity, latest version row) for every live definition, in one query."""
        latest = (
            select(self._owner().label("owner"), func.max(self.version_model.version).label("version"))
            .group_by(self._owner())
            .subquery()
        )
        query = (
            select(self.entity_model, self.version_model)
            .join(latest, latest.c.owner == self.entity_model.id)
            .join(
                self.version_model,
                (self._owner() == latest.c.owner) & (self.version_model.version == latest.c.version),
            )
            .where(self.entity_model.deleted_at.is_(None))
            .order_by(self.entity_model.name)
        )
        return [(entity, row) for entity, row in self.session.execute(query)]

    def diff(self, name: str, old: int, new: int) -> DefinitionDiff:
        """A unified diff of two versions' text and the settings that changed between them."""
        before, after = self.get(name, old), self.get(name, new)
        return DefinitionDiff(
            name=name,
            old_version=old,
            new_version=new,
            body_diff=unified_text_diff(self._text(before), self._text(after), f"{name}@{old}", f"{name}@{new}"),
            settings=changed_settings(self._settings(before), self._settings(after)),
        )

    def _text(self, record: RecordT) -> str:
        raise NotImplementedError

    def _settings(self, record: RecordT) -> dict[str, Any]:
        raise NotImplementedError

    def records(self) -> list[RecordT]:
        rows = self._latest_rows()
        labels = self._labels_of([entity for entity, _ in rows])
        return [self._to_record(entity, row, labels=labels_at(labels[entity.id], row.version)) for entity, row in rows]

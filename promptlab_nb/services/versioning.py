"""What templates and pipelines share: names, content-hashed versions, soft delete, restore, duplicate."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promptlab_nb.core import errors
from promptlab_nb.core.ids import utcnow
from promptlab_nb.engine.diffing import changed_settings, unified_text_diff
from promptlab_nb.schemas.definitions import Definition, DefinitionDiff

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
RecordT = TypeVar("RecordT", bound=Definition)


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class VersionedDefinitions(Generic[RecordT]):
    """Base of TemplateService and PipelineService; subclasses name their tables and record type."""

    kind: ClassVar[str]
    entity_model: ClassVar[Any]
    version_model: ClassVar[Any]
    owner_column: ClassVar[str]
    not_found: ClassVar[type[errors.DefinitionNotFound]]
    name_taken: ClassVar[type[errors.DefinitionNameTaken]]
    deleted_error: ClassVar[type[errors.DefinitionDeleted]]

    def __init__(self, session: Session):
        self.session = session

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
                return self._to_record(entity, latest, unchanged=True, previous_version=latest.version)
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

    def get(self, name: str, version: int | None = None) -> RecordT:
        """The latest version of a live definition, or any stored version when ``version`` is given."""
        entity = self._entity(name) if version is not None else self._live_entity(name)
        return self._to_record(entity, self._version_row(entity, version))

    def history(self, name: str) -> list[RecordT]:
        """Every version, oldest first, also for a deleted definition."""
        entity = self._entity(name)
        rows = self.session.scalars(
            select(self.version_model).where(self._owner() == entity.id).order_by(self.version_model.version)
        )
        return [self._to_record(entity, row) for row in rows]

    def delete(self, name: str) -> RecordT:
        entity = self._live_entity(name)
        entity.deleted_at = utcnow()
        return self._to_record(entity, self._version_row(entity, None))

    def restore(self, name: str) -> RecordT:
        entity = self._entity(name)
        entity.deleted_at = None
        entity.updated_at = utcnow()
        return self._to_record(entity, self._version_row(entity, None))

    def duplicate(self, name: str, new_name: str) -> RecordT:
        source = self._version_row(self._live_entity(name), None)
        self.check_name(new_name)
        existing = self.session.scalar(select(self.entity_model).where(self.entity_model.name == new_name))
        if existing is not None:
            raise self.deleted_error(new_name) if existing.deleted_at else self.name_taken(new_name)
        description = source.description or f"Duplicated from {name}@{source.version}"
        return self._save_content(new_name, self._content(source), description)

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
        return [self._to_record(entity, row) for entity, row in self._latest_rows()]

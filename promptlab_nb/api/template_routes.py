"""Templates: read by label, version or latest (from the registry's cache), render, save, move a label."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from promptlab_nb.api.dependencies import LabDep, LabelQuery, SessionDep, VersionQuery, WritingSessionDep, api_token
from promptlab_nb.display.records import frame_records
from promptlab_nb.schemas.api import (
    LabelMoveRequest,
    RenderRequest,
    TemplateList,
    TemplateResponse,
    TemplateSaveRequest,
    TemplateSummary,
)
from promptlab_nb.schemas.rendering import RenderedPrompt
from promptlab_nb.services.templates import TemplateService

router = APIRouter(prefix="/templates", tags=["templates"], dependencies=[Depends(api_token)])


@router.get("")
def list_templates(lab: LabDep, session: SessionDep) -> TemplateList:
    frame = TemplateService(session, lab.settings).list()
    return TemplateList(templates=[TemplateSummary(**row) for row in frame_records(frame)])


@router.get("/{name}")
def get_template(
    name: str, lab: LabDep, session: SessionDep, version: VersionQuery = None, label: LabelQuery = None
) -> TemplateResponse:
    return TemplateResponse.of(lab.registry.get(name, version, label=label, session=session))


@router.post("/{name}/render")
def render_template(
    name: str,
    request: RenderRequest,
    lab: LabDep,
    session: SessionDep,
    version: VersionQuery = None,
    label: LabelQuery = None,
) -> RenderedPrompt:
    """Variables in, chat messages out with the model and params; a missing variable is a 400 naming it."""
    return lab.registry.get(name, version, label=label, session=session).render(request.variables)


@router.put("/{name}", status_code=status.HTTP_201_CREATED)
def save_template(
    name: str, request: TemplateSaveRequest, lab: LabDep, session: WritingSessionDep, response: Response
) -> TemplateResponse:
    """A new version when something changed (201), else the stored one (200)."""
    template = TemplateService(session, lab.settings).save(name, **request.model_dump())
    if template.unchanged:
        response.status_code = status.HTTP_200_OK
    return TemplateResponse.of(template)


@router.put("/{name}/labels/{label}")
def move_label(
    name: str, label: str, request: LabelMoveRequest, lab: LabDep, session: WritingSessionDep
) -> TemplateResponse:
    """Point ``label`` at a version: this service reads by it at once, other processes within their cache's time."""
    template = TemplateService(session, lab.settings).label(name, request.version, label)
    return TemplateResponse.of(template)

"""Pipelines, read only: the list, and one by label, version or latest."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from promptlab_nb.api.dependencies import LabelQuery, SessionDep, VersionQuery, api_token
from promptlab_nb.display.records import frame_records
from promptlab_nb.schemas.api import PipelineList, PipelineResponse, PipelineSummary
from promptlab_nb.services.pipelines import PipelineService

router = APIRouter(prefix="/pipelines", tags=["pipelines"], dependencies=[Depends(api_token)])


@router.get("")
def list_pipelines(session: SessionDep) -> PipelineList:
    return PipelineList(pipelines=[PipelineSummary(**row) for row in frame_records(PipelineService(session).list())])


@router.get("/{name}")
def get_pipeline(
    name: str, session: SessionDep, version: VersionQuery = None, label: LabelQuery = None
) -> PipelineResponse:
    return PipelineResponse.of(PipelineService(session).get(name, version, label=label))

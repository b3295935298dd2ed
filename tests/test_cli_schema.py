"""The experiment file's JSON Schema ships in the package, and its quick checker agrees with jsonschema."""

from __future__ import annotations

import jsonschema
import pytest

from promptlab_nb.services.experiment_files import experiment_file_schema
from promptlab_nb.services.file_schema import first_error, unknown_keywords

DOCUMENTS = [
    {"templates": ["summarize"]},
    {"templates": [{"name": "a", "body": "{{ x }}", "model": "mock:echo", "params": {"temperature": 0}}]},
    {"templates": [{"file": "a.prompty"}], "models": "mock:echo", "data": "rows.csv", "repeats": 3},
    {"pipelines": [{"name": "p", "steps": [{"template": "a"}]}], "params": {"temperature": [0, 1]}},
    {"templates": ["a"], "data": [{"x": 1}], "evaluators": ["contains:x"], "thresholds": ["contains:x >= 1"]},
    {"templates": ["a"], "baseline": "yesterday", "name": "n", "description": "d", "concurrency": 4},
    {},
    {"models": ["mock:echo"]},
    {"templates": []},
    {"templates": [""]},
    {"templates": [{"name": "a"}]},
    {"templates": [{"name": "a", "body": "x", "file": "b.txt"}]},
    {"templates": [{"file": "a.docx"}]},
    {"templates": ["a"], "models": ["echo"]},
    {"templates": ["a"], "models": 5},
    {"templates": ["a"], "repeats": 0},
    {"templates": ["a"], "repeats": True},
    {"templates": ["a"], "repeats": "3"},
    {"templates": ["a"], "data": "rows.xlsx"},
    {"templates": ["a"], "data": []},
    {"templates": ["a"], "evaluators": "contains:x"},
    {"templates": ["a"], "thresholds": [""]},
    {"templates": ["a"], "modles": ["mock:echo"]},
    {"templates": ["a"], "name": "x" * 151},
    {"pipelines": [{"name": "p", "steps": []}]},
]


def test_the_schema_ships_in_the_package_and_uses_only_keywords_the_checker_applies():
    # Given the schema shipped with the package
    schema = experiment_file_schema()
    # When its keywords are held against those the quick checker applies
    unknown = unknown_keywords(schema)
    # Then it is a valid JSON Schema, and every keyword it uses is one the quick checker applies
    jsonschema.Draft202012Validator.check_schema(schema)
    assert unknown == set()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_checker_accepts_and_refuses_what_jsonschema_does(document):
    # Given jsonschema's verdict on an experiment file
    errors = list(jsonschema.Draft202012Validator(experiment_file_schema()).iter_errors(document))
    # When the quick checker reads it
    found = first_error(experiment_file_schema(), document)
    # Then it is refused exactly when jsonschema refuses it, at a place jsonschema names
    assert (found is None) == (not errors), found
    if found is not None:
        places = [list(error.absolute_path) for error in errors]
        assert any(found.path[: len(place)] == place for place in places), (found.path, places)

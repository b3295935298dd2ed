"""Issue 15 item 5: a variant is named as a person would type it, the plain template name for
``triage@1``, and an ambiguous name is one line listing the choices."""

from __future__ import annotations

import pandas as pd
import pytest

import promptlab_nb as pl
from promptlab_nb.core import errors
from promptlab_nb.services.variant_names import resolve_variant

TICKETS = pd.DataFrame(
    {
        "ticket": ["printer on fire", "password reset", "refund please", "server down"],
        "expected": ["urgent", "routine", "routine", "urgent"],
    }
)
SHARP = {"fire": "urgent", "down": "urgent", "*": "routine"}
LABELS = ["triage@1", "triage_short@2", "summarize@1 | mock:a", "summarize@1 | mock:b", "digest@1 #2"]


@pytest.mark.parametrize(
    ("typed", "label"),
    [
        ("triage@1", "triage@1"),
        ("triage", "triage@1"),
        ("triage_short", "triage_short@2"),
        ("mock:b", "summarize@1 | mock:b"),
        ("summarize@1 | mock:a", "summarize@1 | mock:a"),
        ("digest", "digest@1 #2"),
    ],
)
def test_a_label_or_a_part_no_other_variant_shares_names_the_variant(typed, label):
    # Given the labels of an experiment's variants (LABELS)
    # When a person types a name, Then it stands for the one variant it is part of
    assert resolve_variant(typed, LABELS) == label


def test_an_ambiguous_name_lists_the_variants_it_could_mean_on_one_line():
    # Given two variants of summarize@1 on two models
    # When a name is part of two labels, Then one line names both choices
    with pytest.raises(errors.AmbiguousVariant) as refused:
        resolve_variant("summarize", LABELS)
    message = str(refused.value)
    assert "\n" not in message
    assert "'summarize@1 | mock:a'" in message and "'summarize@1 | mock:b'" in message
    assert refused.value.http_status == 422


def test_an_unknown_name_lists_the_variants():
    # Given the labels of an experiment's variants (LABELS)
    # When a name no variant has is typed, Then the variants are listed
    with pytest.raises(errors.VariantNotFound, match=r"No variant 'triag'; variants: 'triage@1', "):
        resolve_variant("triag", LABELS)


@pytest.fixture
def triage(lab):
    pl.mock_model("sharp", SHARP)
    pl.mock_model("dull", {"*": "routine"})
    lab.templates.save("triage", "Urgent or routine? {{ ticket }}", model="mock:sharp")
    lab.templates.save("triage_dull", "Urgent or routine? {{ ticket }}", model="mock:dull")
    return lab.compare(["triage", "triage_dull"], TICKETS, evaluators=["equals:expected"], progress=False)


def test_compare_variants_takes_the_plain_template_names(triage):
    # Given triage and triage_dull compared on the tickets
    # When the variants are named without their versions
    difference = triage.compare_variants("triage", "triage_dull")
    # Then they are compared as if named in full
    assert difference == triage.compare_variants("triage@1", "triage_dull@1")
    assert (difference.wins_a, difference.wins_b, difference.ties) == (2, 0, 2)


def test_the_widget_diffs_against_the_variant_named_plainly(triage):
    # Given triage and triage_dull compared on the tickets
    # When the widget is asked to diff against a variant named without its version
    widget = triage.widget(diff_against="triage_dull")
    # Then the variant chosen is that one, as the widget's own option for it
    chosen = next(option for option in widget.baseline_options if option["key"] == widget.baseline)
    assert chosen["label"] == "vs triage_dull@1"


def test_an_ambiguous_name_is_refused_naming_the_models(lab):
    # Given one template compared across two models
    pl.mock_model("sharp", SHARP)
    pl.mock_model("dull", {"*": "routine"})
    lab.templates.save("triage", "Urgent or routine? {{ ticket }}")
    experiment = lab.compare(
        "triage", TICKETS, models=["mock:sharp", "mock:dull"], evaluators=["equals:expected"], progress=False
    )
    # When the template alone names a variant, Then the choices are listed; the model alone is enough
    with pytest.raises(errors.AmbiguousVariant, match=r"'triage@1 \| mock:sharp', 'triage@1 \| mock:dull'"):
        experiment.compare_variants("triage", "mock:dull")
    assert experiment.compare_variants("mock:sharp", "mock:dull").wins_a == 2

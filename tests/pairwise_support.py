"""What the pairwise tests share: capitals answered by a short, a long and a middling mock model, a judge
that prefers the longer answer, and the win rate that judge should give."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

import promptlab_nb as pl
from promptlab_nb.evaluation.pairwise import FIRST, SECOND, TIE

QUESTIONS = pd.DataFrame(
    {
        "country": ["France", "Japan", "Peru", "Kenya", "Chile", "Italy"],
        "expected": ["Paris", "Tokyo", "Lima", "Nairobi", "Santiago", "Rome"],
    }
)
SHORT = {"france": "Paris", "japan": "Tokyo", "peru": "Lima", "kenya": "Nairobi", "*": "?"}
LONG = {
    "france": "The capital is Paris.",
    "japan": "The capital is Tokyo.",
    "chile": "The capital is Santiago.",
    "*": "?",
}
MID = {"france": "Paris, I think.", "*": "?"}
SHORT_VARIANT, LONG_VARIANT, MID_VARIANT = "capital@1 | mock:short", "capital@1 | mock:long", "capital@1 | mock:mid"
OUTPUTS = re.compile(r"<output_a>\n(.*?)\n</output_a>.*<output_b>\n(.*?)\n</output_b>", re.DOTALL)


def compare_capitals(lab, **options):
    """The capital question compared over QUESTIONS by mock:short, mock:long and mock:mid."""
    pl.mock_model("short", SHORT)
    pl.mock_model("long", LONG)
    pl.mock_model("mid", MID)
    lab.templates.save("capital", "What is the capital of {{ country }}?")
    models = ["mock:short", "mock:long", "mock:mid"]
    return lab.compare(["capital"], QUESTIONS, models=models, progress=False, **options)


def shown_outputs(messages) -> tuple[str, str]:
    found = OUTPUTS.search(messages[-1]["content"])
    assert found, "the judge's prompt shows outputs A and B"
    return found.group(1), found.group(2)


def prefers_longer(messages) -> str:
    """A judge without position bias: the longer answer wins, equal lengths tie."""
    first, second = shown_outputs(messages)
    winner = FIRST if len(first) > len(second) else SECOND if len(second) > len(first) else TIE
    return f'{{"winner": "{winner}", "reason": "longer"}}'


def outputs_of(experiment, variant: str) -> pd.Series:
    runs = experiment.runs
    return runs[runs["variant"] == variant].set_index("row_index")["output"]


def longer_wins(a: pd.Series, b: pd.Series) -> pd.Series:
    """Per row, 1 when a's output is longer, 0 when b's is, 1/2 for equal lengths."""
    return pd.Series(np.sign(a.str.len() - b.str.len()) / 2 + 0.5, index=a.index)

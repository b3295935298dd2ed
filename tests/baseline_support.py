"""Two experiments on the same capitals, a careful version then a hasty one that guesses wrong on every
even-numbered country: a baseline and an experiment that regressed from it."""

from __future__ import annotations

import pandas as pd

import promptlab_nb as pl

COUNTRIES = [f"country {index}" for index in range(12)]
QUESTIONS = pd.DataFrame({"country": COUNTRIES, "expected": [f"capital {index}" for index in range(12)]})
CAREFUL = "Name the capital of {{ country }}."
HASTY = "Guess the capital of {{ country }}."


def geographer(messages) -> str:
    """Answers every question, except that a guess is wrong for the even-numbered countries."""
    prompt = messages[-1]["content"]
    number = int(prompt.rstrip(".").rsplit(" ", 1)[-1])
    return "no idea" if prompt.startswith("Guess") and number % 2 == 0 else f"capital {number}"


def careful_then_hasty(lab: pl.Lab, hasty_questions: pd.DataFrame = QUESTIONS) -> pl.Experiment:
    """Version 1 (careful) run as ``careful`` on the questions, then version 2 (hasty) run as ``hasty``
    on ``hasty_questions``; returns the hasty experiment."""
    pl.mock_model("geographer", geographer)
    lab.templates.save("capital", CAREFUL, model="mock:geographer")
    lab.run("capital", QUESTIONS, evaluators=["equals:expected"], name="careful", progress=False)
    lab.templates.save("capital", HASTY, model="mock:geographer")
    return lab.run("capital", hasty_questions, evaluators=["equals:expected"], name="hasty", progress=False)

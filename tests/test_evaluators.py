"""Evaluators score one output against its data row; spec strings build them; judge prompts and reads a model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptlab_nb import evaluation as evals
from promptlab_nb.core.errors import InvalidEvaluator, InvalidModelSpec
from promptlab_nb.evaluation import EvalResult

ROW = {"question": "Capital of France?", "expected": "Paris", "answer": 42}
CITY_SCHEMA = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}


def assert_passes(evaluator: evals.Evaluator, output: str | None, row: dict | None = None, parsed=None) -> None:
    result = evaluator.evaluate(output, ROW if row is None else row, parsed)
    assert result == EvalResult(1.0, True, None, None), f"{evaluator.name} on {output!r}: {result}"


def assert_fails(evaluator: evals.Evaluator, output: str, reason: str, row: dict | None = None) -> None:
    result = evaluator.evaluate(output, ROW if row is None else row)
    assert (result.value, result.passed, result.error) == (0.0, False, None), (
        f"{evaluator.name} on {output!r}: {result}"
    )
    assert reason in (result.reason or ""), f"reason {result.reason!r} lacks {reason!r}"


def assert_error(result: EvalResult, fragment: str) -> None:
    assert (result.value, result.passed) == (None, None), result
    assert fragment in (result.error or ""), f"error {result.error!r} lacks {fragment!r}"


def assert_refused(build, fragment: str) -> None:
    with pytest.raises(InvalidEvaluator) as raised:
        build()
    assert fragment in str(raised.value), f"message {str(raised.value)!r} lacks {fragment!r}"


class TestTextChecks:
    def test_contains_ignores_case_unless_asked(self):
        # Given case-insensitive and case-sensitive checks for "Paris"
        # When / Then the lower-case answer passes only the first, with a reason for the failure
        assert_passes(evals.contains("Paris"), "it is paris.")
        assert_fails(evals.contains("Paris", case=True), "it is paris.", "not found: 'Paris'")

    def test_contains_all_names_what_is_missing(self):
        # Given a check for two words
        check = evals.contains_all(["Paris", "France"])

        # When / Then both present pass, one absent fails naming it
        assert_passes(check, "Paris is in France")
        assert_fails(check, "Paris is lovely", "not found: 'France'")

    def test_contains_any_needs_one(self):
        # Given a check for either city
        check = evals.contains_any(["Paris", "Lyon"])

        # When / Then one of them suffices
        assert_passes(check, "lyon")
        assert_fails(check, "Marseille", "not found: 'Paris', 'Lyon'")

    def test_exact_ignores_only_surrounding_whitespace(self):
        # Given an exact literal and an exact column check
        # When / Then trailing newlines are forgiven, case is not
        assert_passes(evals.exact("Paris"), "Paris\n")
        assert_fails(evals.exact("Paris"), "paris", "expected exactly 'Paris'")
        assert_passes(evals.exact(column="expected"), " Paris ")

    def test_regex_searches_anywhere_unless_anchored(self):
        # Given an anchored and a free pattern
        # When / Then only whole-number outputs pass the anchored one
        assert_passes(evals.regex(r"^\d+$"), "1234")
        assert_fails(evals.regex(r"^\d+$"), "about 1234", "no match")
        assert_passes(evals.regex(r"\d+"), "about 1234")

    def test_length_counts_characters_within_inclusive_bounds(self):
        # Given bounds of 3 to 5 characters
        check = evals.length(3, 5)

        # When / Then the bounds themselves pass and outside is explained
        assert_passes(check, "abc")
        assert_passes(check, "abcde")
        assert_fails(check, "ab", "2 characters, below 3")
        assert_fails(check, "abcdef", "6 characters, above 5")
        assert_passes(evals.length(max=2), "")


class TestDataChecks:
    def test_equals_ignores_case_whitespace_and_number_formatting(self):
        # Given a loose equality with the expected column
        # When / Then formatting differences pass, other answers fail
        assert_passes(evals.equals("expected"), "  PARIS ")
        assert_passes(evals.equals("answer"), "42.0")
        assert_fails(evals.equals("expected"), "Lyon", "expected 'Paris' (expected)")

    def test_numeric_close_reads_the_output_or_its_last_number(self):
        # Given a tolerance of 0.01 around the row's answer 42
        check = evals.numeric_close("answer", 0.01)

        # When / Then a bare number and a worked answer pass, a far number fails
        assert_passes(check, "42.005")
        assert_passes(check, "6 times 7 is 42.")
        assert_fails(check, "41.9", "41.9 is not within 0.01 of 42")
        assert_fails(check, "no idea", "no number")

    def test_similarity_scores_between_zero_and_one(self):
        # Given a similarity check against the expected answer
        check = evals.similarity("expected", threshold=0.8)

        # When a close and a distant answer are scored
        close, far = check.evaluate("Pariss", ROW), check.evaluate("Berlin", ROW)

        # Then the score is rapidfuzz's ratio / 100 and passing follows the threshold
        assert close.value == pytest.approx(2 * 5 / 11) and close.passed
        assert far.value < 0.5 and far.passed is False and "below 0.8" in far.reason

    def test_an_empty_expected_value_is_an_error_not_a_failure(self):
        # Given a row whose expected answer is missing
        row = {"expected": float("nan")}

        # When scored
        # Then the result is an error so the row does not count as failed
        assert_error(evals.equals("expected").evaluate("Paris", row), "the row's 'expected' is empty")


class TestJsonChecks:
    def test_json_valid_accepts_json_or_a_parsed_output(self):
        # Given the JSON check
        # When / Then a JSON text passes, prose fails, structured output already parsed passes
        assert_passes(evals.json_valid(), '{"city": "Paris"}')
        assert_fails(evals.json_valid(), "The city is Paris", "not JSON")
        assert_passes(evals.json_valid(), "ignored", parsed={"city": "Paris"})

    def test_json_schema_reports_where_the_output_breaks_the_schema(self):
        # Given a schema requiring a string city
        check = evals.json_schema(CITY_SCHEMA)

        # When / Then a conforming object passes, a wrong type fails naming its path
        assert_passes(check, '{"city": "Paris"}')
        assert_fails(check, '{"city": 3}', "3 is not of type 'string' (at /city)")
        assert_fails(check, "{}", "'city' is a required property")
        assert_fails(check, "Paris", "not JSON")

    def test_json_schema_accepts_schema_text(self):
        # Given the schema as JSON text
        # When / Then it behaves as the dict
        assert_passes(evals.json_schema(json.dumps(CITY_SCHEMA)), '{"city": "Paris"}')


class TestConstructionRefusesBadInput:
    @pytest.mark.parametrize(
        "build, fragment",
        [
            (lambda: evals.regex("(unclosed"), "does not compile"),
            (lambda: evals.json_schema({"type": "town"}), "invalid JSON Schema"),
            (lambda: evals.json_schema("{not json"), "not JSON"),
            (lambda: evals.exact(), "either an expected text"),
            (lambda: evals.exact("Paris", column="expected"), "either an expected text"),
            (lambda: evals.contains(""), "non-empty texts"),
            (lambda: evals.contains_all("Paris"), "non-empty texts"),
            (lambda: evals.length(), "min, max or both"),
            (lambda: evals.length(10, 5), "min 10 is above max 5"),
            (lambda: evals.numeric_close("answer", -1), "tolerance >= 0"),
            (lambda: evals.similarity("expected", 1.5), "between 0 and 1"),
            (lambda: evals.judge("  "), "needs a rubric"),
            (lambda: evals.judge("polite", name=""), "name needs 1 to 200 characters"),
            (lambda: evals.custom(print, name="x" * 201), "name needs 1 to 200 characters"),
            (lambda: evals.custom("not callable"), "needs a function"),
        ],
    )
    def test_mistakes_are_reported_before_any_run(self, build, fragment):
        # Given an impossible argument
        # When the evaluator is built
        # Then it is refused at once, saying what is wrong
        assert_refused(build, fragment)

    def test_a_judge_model_must_be_a_model_spec(self):
        # Given a model name without its provider
        # When / Then the judge is refused with the expected form
        with pytest.raises(InvalidModelSpec, match="provider:model"):
            evals.judge("polite", model="gpt-4o-mini")


class TestColumns:
    def test_columns_needed_are_declared(self):
        # Given evaluators reading the data and one that does not
        # When / Then only the data readers declare a column
        assert evals.equals("expected").columns_needed == ("expected",)
        assert evals.similarity("expected").columns_needed == ("expected",)
        assert evals.numeric_close("answer", 0).columns_needed == ("answer",)
        assert evals.exact(column="expected").columns_needed == ("expected",)
        assert evals.contains("Paris").columns_needed == ()

    def test_validate_names_the_missing_column_and_the_existing_ones(self):
        # Given data with columns question and answer
        # When / Then an evaluator of "expected" is refused with both listed
        assert_refused(
            lambda: evals.equals("expected").validate(["question", "answer"]),
            "'equals:expected' needs the data column(s) 'expected'; the data has: 'question', 'answer'.",
        )
        evals.equals("expected").validate(["question", "expected"])


class TestFailuresDoNotStopTheExperiment:
    def test_a_raising_custom_function_becomes_an_error_result(self):
        # Given a custom evaluator that crashes
        def crashes(output, row):
            return 1 / 0

        # When it scores an output
        result = evals.custom(crashes).evaluate("x", ROW)

        # Then the error is recorded for this run
        assert_error(result, "crashes failed: ZeroDivisionError")

    def test_a_missing_output_is_an_error(self):
        # Given a run that produced nothing
        # When / Then any evaluator reports it instead of scoring
        assert_error(evals.contains("Paris").evaluate(None, ROW), "no output")

    def test_a_row_without_the_column_is_an_error(self):
        # Given a row lacking the expected column
        # When / Then it is an error for that run
        assert_error(evals.similarity("expected").evaluate("Paris", {}), "the row has no column 'expected'")


class TestCustom:
    @pytest.mark.parametrize(
        "returned, expected",
        [
            (True, EvalResult(1.0, True)),
            (np.bool_(False), EvalResult(0.0, False)),
            (0.25, EvalResult(0.25)),
            (np.float64(0.5), EvalResult(0.5)),
            ((0.75, "mostly"), EvalResult(0.75, None, "mostly")),
            ((False, "rude"), EvalResult(0.0, False, "rude")),
            (EvalResult(0.1, False, "own"), EvalResult(0.1, False, "own")),
        ],
    )
    def test_return_values_become_results(self, returned, expected):
        # Given a function returning a bool, a number, (score, reason) or an EvalResult
        # When wrapped and run
        # Then the result carries the same meaning
        assert evals.custom(lambda output, row: returned).evaluate("x", ROW) == expected

    @pytest.mark.parametrize("returned", ["yes", None, float("nan")])
    def test_unusable_return_values_are_errors(self, returned):
        # Given a function returning something that is not a score
        # When / Then the run gets an error explaining what to return
        assert_error(evals.custom(lambda output, row: returned).evaluate("x", ROW), "return a bool, a finite number")

    def test_names_come_from_the_function_or_the_caller(self):
        # Given a named function, a lambda and an explicit name
        def polite(output, row):
            return "please" in output

        # When wrapped
        # Then the names are readable
        assert evals.custom(polite).name == "polite"
        assert evals.custom(lambda output, row: True).name == "custom"
        assert evals.custom(polite, name="is_polite").name == "is_polite"

    def test_as_evaluator_accepts_evaluators_specs_and_callables(self):
        # Given the three things a user may pass to the lab
        check = evals.contains("Paris")

        def polite(output, row):
            return True

        # When / Then each becomes an evaluator, anything else is refused
        assert evals.as_evaluator(check) is check
        assert evals.as_evaluator("regex:^a").name == "regex:^a"
        assert evals.as_evaluator(polite).name == "polite"
        assert_refused(lambda: evals.as_evaluator(42), "not an evaluator")


class TestSpecs:
    @pytest.mark.parametrize(
        "spec, name",
        [
            ("contains:Paris", "contains:Paris"),
            ("contains_case:Paris", "contains_case:Paris"),
            ("contains_all:Paris|France", "contains_all:Paris|France"),
            ("contains_any:Paris|Lyon", "contains_any:Paris|Lyon"),
            (r"regex:^\d+$", r"regex:^\d+$"),
            ("json", "json"),
            ('json_schema:{"type": "object"}', "json_schema"),
            ("equals:expected", "equals:expected"),
            ("exact:Paris", "exact:Paris"),
            ("exact:{expected}", "exact:{expected}"),
            ("length:10-200", "length:10-200"),
            ("length:10-", "length:10-"),
            ("length:-200", "length:-200"),
            ("similarity:expected", "similarity:expected"),
            ("similarity:expected:0.7", "similarity:expected:0.7"),
            ("numeric:answer:0.01", "numeric:answer:0.01"),
            ('judge:"Is it polite?"', "judge"),
        ],
    )
    def test_specs_build_evaluators_whose_names_read_back(self, spec, name):
        # Given a spec string as typed after --eval
        # When parsed
        evaluator = evals.parse_spec(spec)

        # Then its name is stable and, where it carries its arguments, parses to the same evaluator
        assert evaluator.name == name
        if name == spec:
            assert evals.parse_spec(evaluator.name).name == name

    def test_spec_arguments_keep_their_colons(self):
        # Given a pattern with a colon
        # When / Then it is kept whole
        assert_passes(evals.parse_spec("regex:^a:b$"), "a:b")

    def test_judge_quotes_are_optional(self):
        # Given a quoted and an unquoted rubric
        # When / Then both give the same rubric
        assert evals.parse_spec('judge:"Be kind"').rubric == evals.parse_spec("judge:Be kind").rubric == "Be kind"

    def test_an_unknown_kind_lists_the_known_ones(self):
        # Given a misspelt kind
        # When / Then the error lists the kinds with examples
        assert_refused(lambda: evals.parse_spec("contain:Paris"), "write one of these forms:\n  contains:Paris")
        assert_refused(lambda: evals.parse_spec("regex_case:x"), "Unknown evaluator 'regex_case:x'")

    @pytest.mark.parametrize(
        "spec, fragment",
        [
            ("regex:(", "does not compile"),
            ("contains:", "it needs a text"),
            ("length:abc", "bounds need a dash"),
            ("length:a-b", "'a' is not a whole number"),
            ("similarity:expected:high", "'high' is not a number"),
            ("json:x", "takes no argument"),
        ],
    )
    def test_a_bad_argument_is_explained_with_an_example(self, spec, fragment):
        # Given a known kind with a bad argument
        # When / Then the message explains and shows the right form
        assert_refused(lambda: evals.parse_spec(spec), fragment)
        assert_refused(lambda: evals.parse_spec(spec), "Write it as")


class TestJudge:
    def test_requests_build_one_conversation_with_rubric_input_and_output(self):
        # Given a judge of politeness
        grader = evals.judge("The answer is polite.", model="openai:gpt-4o-mini")

        # When it prepares the grading of one output
        conversations = grader.requests("Paris, obviously.", ROW)

        # Then one system + user conversation carries rubric, row and output and asks for JSON
        assert len(conversations) == 1
        system, user = conversations[0]
        assert (system["role"], user["role"]) == ("system", "user")
        for fragment in (
            "The answer is polite.",
            "question: Capital of France?",
            "<output>\nParis, obviously.\n</output>",
            '"score"',
        ):
            assert fragment in user["content"], f"prompt lacks {fragment!r}"
        assert (grader.needs_model, grader.model, grader.name) == (True, "openai:gpt-4o-mini", "judge")

    @pytest.mark.parametrize(
        "answer, expected",
        [
            ('{"score": 0.8, "reason": "courteous"}', EvalResult(0.8, True, "courteous")),
            ('```json\n{"score": 0.2, "reason": "curt"}\n```', EvalResult(0.2, False, "curt")),
            ('Sure! {"score": "PASS", "reason": "fine"}', EvalResult(1.0, True, "fine")),
            ('{"score": true}', EvalResult(1.0, True)),
            ("0.9", EvalResult(0.9, True, "0.9")),
            ("Score: 0.4\nSomewhat blunt.", EvalResult(0.4, False, "Score: 0.4\nSomewhat blunt.")),
            ("**FAIL** - rude", EvalResult(0.0, False, "**FAIL** - rude")),
            ("pass", EvalResult(1.0, True, "pass")),
        ],
    )
    def test_parse_reads_json_numbers_and_verdicts(self, answer, expected):
        # Given a judge's answer in one of the shapes models produce
        # When parsed
        # Then it gives the score, whether it passes at 0.5, and the reason
        assert evals.judge("polite").parse(answer) == expected

    @pytest.mark.parametrize(
        "answer, fragment",
        [
            ("I cannot decide.", "could not read a score"),
            ("", "could not read a score"),
            (None, "could not read a score"),
            ('{"score": 7, "reason": "great"}', "outside 0..1"),
            ('{"verdict": "good"}', "could not read a score"),
        ],
    )
    def test_parse_turns_unreadable_answers_into_errors(self, answer, fragment):
        # Given an answer without a usable score
        # When / Then the result is an error, not a made-up score
        assert_error(evals.judge("polite").parse(answer), fragment)

    def test_the_threshold_decides_passing(self):
        # Given a demanding judge
        # When / Then 0.8 is not enough
        assert evals.judge("polite", threshold=0.9).parse('{"score": 0.8}').passed is False

    def test_evaluate_without_the_runner_explains_the_model_call(self):
        # Given a judge used like a plain evaluator
        # When / Then it says it needs requests and parse
        assert_error(evals.judge("polite").evaluate("x", ROW), "needs a model call")

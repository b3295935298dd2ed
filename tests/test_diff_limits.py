"""Diffs of long texts compare a bounded head and say where they stop, so a long output cannot hold up a view."""

from __future__ import annotations

from promptlab_nb.engine.diffing import MAX_DIFF_LINES, unified_text_diff
from promptlab_nb.notebook.widget_diff import ADDED, MAX_DIFF_TOKENS, NOT_COMPARED, REMOVED, SAME, word_diff, words


def test_the_word_diff_of_long_outputs_compares_their_head_and_keeps_the_rest_of_the_output():
    # Given two outputs of 1,500 words each that differ in their first and last words
    baseline = " ".join(["alpha"] + ["same"] * 1498 + ["omega"])
    output = " ".join(["ALPHA"] + ["same"] * 1498 + ["OMEGA"])

    # When they are diffed
    segments = word_diff(baseline, output)

    # Then the head is compared word by word, and the rest of the output follows as one segment not compared
    assert segments[:2] == [(REMOVED, "alpha"), (ADDED, "ALPHA")]
    assert segments[-1] == (NOT_COMPARED, "".join(words(output)[MAX_DIFF_TOKENS:]))
    assert "".join(text for kind, text in segments if kind != REMOVED) == output


def test_the_version_diff_of_long_bodies_says_where_it_stops():
    old = "".join(f"line {number}\n" for number in range(MAX_DIFF_LINES + 10))
    new = old.replace("line 1\n", "line one\n", 1) + "one more\n"

    diff = unified_text_diff(old, new, "t@1", "t@2")

    assert "+line one\n" in diff and "+one more" not in diff
    assert diff.endswith(f"@@ not compared: the lines after line {MAX_DIFF_LINES:,} @@\n")


def test_a_replaced_phrase_reads_as_one_deletion_then_one_insertion_not_interleaved_words():
    # Given an output that replaces the first two words of its baseline
    baseline, output = "The kettle is on", "Thank you is on"

    # When they are diffed
    segments = word_diff(baseline, output)

    # Then the old phrase is removed whole, the new phrase added whole, and the rest kept
    assert segments == [(REMOVED, "The kettle"), (ADDED, "Thank you"), (SAME, " is on")]


def test_a_sentence_rewritten_word_for_word_shows_as_the_old_sentence_then_the_new_one():
    # Given an output that translates every word of its baseline
    baseline, output = "one two three.", "uno dos tres."

    # When they are diffed
    segments = word_diff(baseline, output)

    # Then the spaces between changed words go with the change, and the segments still rebuild both texts
    assert segments == [(REMOVED, "one two three"), (ADDED, "uno dos tres"), (SAME, ".")]
    assert "".join(text for kind, text in segments if kind != ADDED) == baseline
    assert "".join(text for kind, text in segments if kind != REMOVED) == output

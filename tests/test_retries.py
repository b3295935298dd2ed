"""Retries of a provider call: how many attempts are made, and after how many failures each wait is asked."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from promptlab_nb.core import errors
from promptlab_nb.engine.limits import RetryPolicy, with_retries


@dataclass
class NoWaitPolicy(RetryPolicy):
    """The retry policy, noting each wait it is asked for (failures so far, the error) and waiting none."""

    asked: list[tuple[int, str]] = field(default_factory=list)

    def delay(self, failures: int, error: BaseException) -> float:
        self.asked.append((failures, str(error)))
        return 0.0


class FailingCall:
    """A provider call that raises the given errors in turn, then answers."""

    def __init__(self, *failures: errors.ProviderError):
        self.failures = list(failures)
        self.attempts = 0

    async def __call__(self) -> str:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


def busy(number: int) -> errors.RateLimited:
    return errors.RateLimited(f"busy {number}", provider="mock")


async def test_a_call_failing_every_time_is_tried_once_then_max_retries_times_with_no_wait_after_the_last():
    # Given a call that keeps failing with a retryable error, and two retries allowed
    call, policy = FailingCall(*(busy(number) for number in range(1, 6))), NoWaitPolicy(max_retries=2)
    # When it is called with retries
    with pytest.raises(errors.RateLimited, match="busy 3"):
        await with_retries(call, policy)
    # Then three attempts were made, with a wait after the first and the second failure only
    assert call.attempts == 3
    assert policy.asked == [(1, "busy 1"), (2, "busy 2")]


async def test_a_call_that_recovers_answers_after_its_retries():
    # Given a call that fails twice, then answers
    call, policy = FailingCall(busy(1), busy(2)), NoWaitPolicy(max_retries=4)
    # When it is called with retries
    answer = await with_retries(call, policy)
    # Then the answer comes on the third attempt
    assert (answer, call.attempts, len(policy.asked)) == ("answer", 3, 2)


async def test_an_error_not_worth_retrying_is_raised_at_once_even_after_a_retry():
    # Given a call that is rate limited once, then refused as a bad request
    call = FailingCall(busy(1), errors.BadRequest("prompt rejected", provider="mock"))
    policy = NoWaitPolicy(max_retries=4)
    # When it is called with retries
    with pytest.raises(errors.BadRequest):
        await with_retries(call, policy)
    # Then no attempt followed the refusal
    assert (call.attempts, len(policy.asked)) == (2, 1)

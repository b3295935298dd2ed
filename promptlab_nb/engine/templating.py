"""Prompt templates: role lines split the body into chat messages; each part is Jinja2 in a sandbox.

The body is split on role lines *before* rendering, so a value from the data can never
forge a new message by containing a line such as ``assistant:``. A line ``{{ history | messages }}``
inserts the messages of the list variable ``history`` (a thread: ``{"role", "content"}`` items) in
its place, each item one message, so a history item cannot forge a role either.
"""

from __future__ import annotations

import math
import operator
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta, nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptlab_nb.core.config import MAX_RENDERED_CHARS, MAX_TEMPLATE_CHARS
from promptlab_nb.core.errors import InvalidTemplate, MissingVariables, RenderFailed, UnsafeTemplateOperation
from promptlab_nb.engine.providers.base import Message

ROLES = ("system", "user", "assistant")
_ROLE_LINE = re.compile(r"^[ \t]*(system|user|assistant)[ \t]*:[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_THREAD_LINE = re.compile(
    r"^[ \t]*\{\{-?[ \t]*([A-Za-z_]\w*)[ \t]*\|[ \t]*messages[ \t]*-?\}\}[ \t]*\r?$", re.MULTILINE
)
_BOUNDARY = re.compile(f"{_ROLE_LINE.pattern}|{_THREAD_LINE.pattern}", re.IGNORECASE | re.MULTILINE)
MAX_NUMBER_BITS = 4096
MAX_RENDER_STEPS = 250_000
"""Loop turns and calls one render may take: a template that outputs nothing in nested loops over
``range`` (or calls a macro that calls itself twice) would otherwise hold a server's thread for good."""
_COUNTED = "promptlab-counted"
_OPERATORS = {"*": operator.mul, "**": operator.pow}


@dataclass(frozen=True)
class TemplateLimits:
    """Longest body accepted and longest text rendered, in characters (``PromptLab.max_template_chars``,
    ``PromptLab.max_rendered_chars``); the rendered limit also bounds ``*`` on text and lists."""

    body_chars: int = MAX_TEMPLATE_CHARS
    rendered_chars: int = MAX_RENDERED_CHARS

    @classmethod
    def of(cls, settings: Any) -> TemplateLimits:
        return cls(settings.max_template_chars, settings.max_rendered_chars)


def _number_bits(operation: str, left: int, right: int) -> float:
    if operation == "*":
        return abs(left).bit_length() + abs(right).bit_length()
    return math.log2(abs(left)) * right if right > 0 and abs(left) > 1 else 0


def _too_large(operation: str, left: Any, right: Any, limits: TemplateLimits) -> str | None:
    """Why ``left <operation> right`` would be too large to compute, or None when it is small enough."""
    if isinstance(left, int) and isinstance(right, int):
        bits = _number_bits(operation, left, right)
        if bits > MAX_NUMBER_BITS:
            return f"{operation} would make a number of about {bits:,.0f} bits; the limit is {MAX_NUMBER_BITS:,}"
        return None
    count, repeated = (left, right) if isinstance(left, int) else (right, left)
    if operation == "*" and isinstance(count, int) and hasattr(repeated, "__len__"):
        if count * len(repeated) > limits.rendered_chars:
            unit = "characters" if isinstance(repeated, str) else "items"
            return (
                f"* would repeat {len(repeated):,} {unit} {count:,} times; "
                f"the limit is {limits.rendered_chars:,} (PromptLab.max_rendered_chars)"
            )
    return None


class _GuardedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with ``*`` and ``**`` checked before they run: intercepted operators are not folded
    at compile time either, so a template such as ``{{ 9**(9**8) }}`` cannot hold up compiling."""

    intercepted_binops = frozenset(_OPERATORS)

    def __init__(self, limits: TemplateLimits):
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, optimized=False)
        self.limits = limits
        self.code_generator_class = _UnfoldedOutput
        self.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "sort_keys": True}
        self.filters[_COUNTED] = _counted

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return _checked_binop(operator, left, right, self.limits)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _take_step()
        return super().call(context, obj, *args, **kwargs)


class _Steps:
    def __init__(self, left: int):
        self.left = left


_RENDER_STEPS: ContextVar[_Steps | None] = ContextVar("promptlab_render_steps", default=None)


class _TooManySteps(Exception):
    pass


def _take_step() -> None:
    steps = _RENDER_STEPS.get()
    if steps is not None:
        steps.left -= 1
        if steps.left < 0:
            raise _TooManySteps()


def _counted(iterable: Any) -> Iterator[Any]:
    """What a loop goes over, a step taken per item."""
    for item in iterable:
        _take_step()
        yield item


def _loops_counted(tree: nodes.Template) -> nodes.Template:
    """Every ``for`` of ``tree`` goes over its items through ``_counted``."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _COUNTED, [], [], None, None, lineno=loop.lineno)
    return tree


class _UnfoldedOutput(CodeGenerator):
    """Output expressions are computed when rendering, under the sandbox's checks and the size limit,
    never while compiling (Jinja would otherwise fold a constant filter call such as ``'x'|center(10000000)``)."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Any, finalize: Any) -> str:
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)


class _UnfoldedTracking(meta.TrackingCodeGenerator, _UnfoldedOutput):
    """What ``jinja2.meta.find_undeclared_variables`` does, without computing the output."""

    def __init__(self, environment: _GuardedSandbox):
        super().__init__(environment)
        self.optimizer = None


def _undeclared_variables(tree: nodes.Template, sandbox: _GuardedSandbox) -> set[str]:
    tracking = _UnfoldedTracking(sandbox)
    tracking.visit(tree)
    return tracking.undeclared_identifiers - sandbox.globals.keys()


def _conditions(tree: nodes.Template) -> Iterable[nodes.Expr]:
    for node in tree.find_all((nodes.If, nodes.CondExpr)):
        yield node.test  # type: ignore[attr-defined]


def _bare_names(condition: nodes.Node) -> list[str]:
    """The names a condition only tests for truth or definedness: ``formal``, ``not formal``,
    ``formal and brief``, ``formal is defined``."""
    if isinstance(condition, nodes.Name):
        return [condition.name]
    if isinstance(condition, nodes.Not):
        return _bare_names(condition.node)
    if isinstance(condition, (nodes.And, nodes.Or)):
        return _bare_names(condition.left) + _bare_names(condition.right)
    if isinstance(condition, nodes.Test) and condition.name in ("defined", "undefined"):
        return _bare_names(condition.node)
    return []


def _only_tested(tree: nodes.Template, names: set[str]) -> set[str]:
    """Of ``names``, those used only as conditions: such a variable may be left out, it is then false."""
    tested = Counter(name for condition in _conditions(tree) for name in _bare_names(condition))
    used = Counter(node.name for node in tree.find_all(nodes.Name) if node.ctx == "load")
    return {name for name in names if tested[name] == used[name]}


def _checked_binop(operation: str, left: Any, right: Any, limits: TemplateLimits) -> Any:
    reason = _too_large(operation, left, right, limits)
    if reason:
        raise SecurityError(reason)
    return _OPERATORS[operation](left, right)


@lru_cache(maxsize=8)
def _sandbox(limits: TemplateLimits) -> _GuardedSandbox:
    return _GuardedSandbox(limits)


class _TooLarge(Exception):
    pass


def _constant(node: nodes.Node, limits: TemplateLimits) -> Any:
    """The value of a constant ``*`` / ``**`` expression, computed only when small enough."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, (nodes.Mul, nodes.Pow)):
        left, right = _constant(node.left, limits), _constant(node.right, limits)
        reason = _too_large(node.operator, left, right, limits)
        if reason:
            raise _TooLarge(reason)
        try:
            return _OPERATORS[node.operator](left, right)
        except (ArithmeticError, TypeError, ValueError):
            raise nodes.Impossible() from None
    raise nodes.Impossible()


def _constant_too_large(tree: nodes.Template, limits: TemplateLimits) -> tuple[str, int] | None:
    """Why and where an expression of constants is too large to compute, e.g. ``'ab'*10**8``: such a
    template could only fail when rendered, so it is refused when saved."""
    for node in tree.find_all((nodes.Mul, nodes.Pow)):
        try:
            _constant(node, limits)
        except nodes.Impossible:
            continue
        except _TooLarge as error:
            return str(error), node.lineno
    return None


class _Substitution:
    """A part that only writes text and variables (``Hello {{ name }}``), rendered without a Jinja
    context per render (most of a render's cost): Jinja writes ``str(value)`` for each variable,
    and so does this, from the same parsed text."""

    def __init__(self, pieces: list[tuple[bool, str]]):
        self._pieces = pieces

    @classmethod
    def of(cls, tree: nodes.Template, sandbox: _GuardedSandbox) -> _Substitution | None:
        """The substitution for a part that is nothing else, None for any other part."""
        pieces: list[tuple[bool, str]] = []
        for output in tree.body:
            if not isinstance(output, nodes.Output):
                return None
            for node in output.nodes:
                if isinstance(node, nodes.TemplateData):
                    pieces.append((True, node.data))
                elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in sandbox.globals:
                    pieces.append((False, node.name))
                else:
                    return None
        return cls(pieces)

    def generate(self, values: Mapping[str, Any]) -> list[str]:
        return [text if literal else str(values[text]) for literal, text in self._pieces]


@dataclass(frozen=True)
class _Part:
    role: str
    source: str
    first_line: int
    thread: str | None = None
    after_thread: bool = False


def split_roles(body: str) -> list[_Part]:
    """Cut the body at role lines and thread lines; text before the first role line (or a body without
    any) is a user message; text after a thread line continues the role before it."""
    parts: list[_Part] = []
    role, start, line, after_thread = "user", 0, 1, False
    for found in _BOUNDARY.finditer(body):
        parts.append(_Part(role, body[start : found.start()], line, after_thread=after_thread))
        if found.group(2):
            parts.append(_Part(role, "", line, thread=found.group(2)))
        else:
            role = found.group(1).lower()
        after_thread = bool(found.group(2))
        start = found.end() + 1
        line = body.count("\n", 0, start) + 1
    parts.append(_Part(role, body[start:], line, after_thread=after_thread))
    return [part for index, part in enumerate(parts) if _kept(part, index, parts)]


def _kept(part: _Part, index: int, parts: list[_Part]) -> bool:
    """Blank text is no message when it is user text (the start of a body before any role line) or
    on either side of a thread line."""
    if part.thread or part.source.strip() or len(parts) == 1:
        return True
    before_thread = index + 1 < len(parts) and parts[index + 1].thread is not None
    return part.role != "user" and not part.after_thread and not before_thread


class PromptTemplate:
    """A compiled template body: knows its variables and renders chat messages."""

    def __init__(self, body: str, name: str = "template", limits: TemplateLimits = TemplateLimits()):
        self.name = name
        self.body = body
        self.limits = limits
        if len(body) > limits.body_chars:
            raise InvalidTemplate(
                name, f"the body has {len(body):,} characters; the most is {limits.body_chars:,} "
                "(PromptLab.max_template_chars)"
            )  # fmt: skip
        self._parts = split_roles(body)
        self._compiled = [self._compile(part) for part in self._parts]
        required = set().union(*(names - tested for _, names, tested in self._compiled))
        mentioned = set().union(*(names for _, names, _ in self._compiled))
        self.variables: list[str] = sorted(required)
        self._required = frozenset(required)
        self.optional_variables: list[str] = sorted(mentioned - required)

    def _compile(self, part: _Part):
        if part.thread is not None:
            return None, {part.thread}, set()
        sandbox = _sandbox(self.limits)
        try:
            tree = sandbox.parse(part.source)
            too_large = _constant_too_large(tree, self.limits)
            if too_large:
                raise InvalidTemplate(self.name, too_large[0], part.first_line + too_large[1] - 1)
            names = _undeclared_variables(tree, sandbox)
            compiled = _Substitution.of(tree, sandbox) or sandbox.from_string(_loops_counted(tree))
            return compiled, names, _only_tested(tree, names)
        except InvalidTemplate:
            raise
        except TemplateSyntaxError as error:
            line = part.first_line + (error.lineno or 1) - 1
            raise InvalidTemplate(self.name, error.message or "syntax error", line) from None
        except RecursionError:
            raise InvalidTemplate(self.name, "its expressions nest too deeply; split them with {% set %}") from None
        except Exception as error:
            raise InvalidTemplate(self.name, f"it cannot be compiled ({type(error).__name__}: {error})") from None

    @property
    def roles(self) -> list[str]:
        return [part.role for part in self._parts]

    def render(self, variables: Mapping[str, Any] | None = None, /, **kwargs: Any) -> list[Message]:
        values = {**(variables or {}), **kwargs}
        missing = self._required - values.keys()
        if missing:
            raise MissingVariables(missing, available=values.keys(), where=f"Template {self.name!r}")
        if self.optional_variables:
            values = {**{name: Undefined(name=name) for name in self.optional_variables}, **values}
        steps = _RENDER_STEPS.set(_Steps(MAX_RENDER_STEPS))
        try:
            return self._rendered(values)
        finally:
            _RENDER_STEPS.reset(steps)

    def _rendered(self, values: Mapping[str, Any]) -> list[Message]:
        messages: list[Message] = []
        room = self.limits.rendered_chars
        for part, (compiled, _, _) in zip(self._parts, self._compiled, strict=True):
            if part.thread is not None:
                thread = self._thread_messages(part.thread, values[part.thread])
                room -= sum(len(message["content"]) for message in thread)
                messages.extend(thread)
                continue
            content = self._render_part(compiled, values, room)
            room -= len(content)
            messages.append({"role": part.role, "content": content.strip()})
        return messages

    def _thread_messages(self, name: str, thread: Any) -> list[Message]:
        """The messages of the thread variable ``name``: a list of ``{"role", "content"}`` items, each
        kept whole as one message (content that reads "system: ..." stays content)."""
        if not isinstance(thread, list | tuple):
            raise RenderFailed(self.name, f"{name!r} is a thread: give a list of {{'role', 'content'}} messages")
        messages: list[Message] = []
        for position, item in enumerate(thread, start=1):
            role = item.get("role") if isinstance(item, Mapping) else None
            if not isinstance(role, str) or role.lower() not in ROLES or not isinstance(item.get("content"), str):
                raise RenderFailed(
                    self.name,
                    f"message {position} of the thread {name!r} needs a role ({', '.join(ROLES)}) and a text content",
                )
            messages.append({"role": role.lower(), "content": item["content"]})
        return messages

    def _render_part(self, compiled, values: Mapping[str, Any], room: int) -> str:
        try:
            return _joined_within(compiled.generate(values), room)
        except _TooLarge:
            raise RenderFailed(
                self.name, f"the prompt is longer than {self.limits.rendered_chars:,} characters "
                "(PromptLab.max_rendered_chars)"
            ) from None  # fmt: skip
        except _TooManySteps:
            raise RenderFailed(
                self.name, f"it takes more than {MAX_RENDER_STEPS:,} loop turns and calls to render; "
                "loop over less data, or nest fewer loops"
            ) from None  # fmt: skip
        except SecurityError as error:
            raise UnsafeTemplateOperation(str(error)) from None
        except UndefinedError as error:
            raise RenderFailed(self.name, f"{error.message}; check the data given for this row") from None
        except Exception as error:
            raise RenderFailed(self.name, f"{type(error).__name__}: {error}") from None


def _joined_within(chunks: Iterable[str], room: int) -> str:
    joined: list[str] = []
    for chunk in chunks:
        room -= len(chunk)
        if room < 0:
            raise _TooLarge()
        joined.append(chunk)
    return "".join(joined)


@lru_cache(maxsize=512)
def compile_template(body: str, name: str = "template", limits: TemplateLimits = TemplateLimits()) -> PromptTemplate:
    return PromptTemplate(body, name, limits)

"""Domain exceptions. Each message tells the user what to do next.

The notebook layer prints ``str(error)`` as one line; the server layer maps
``http_status`` to the response code.
"""

from __future__ import annotations

from collections.abc import Iterable


class PromptLabError(Exception):
    """Base of every error a user of promptlab_nb can act on."""

    http_status = 400


class InvalidName(PromptLabError):
    def __init__(self, kind: str, name: str):
        super().__init__(
            f"{kind} name {name!r} is not valid: use letters, digits, '_', '-' and '.' "
            "(start with a letter or digit, at most 200 characters)."
        )
        self.name = name


class NotFound(PromptLabError):
    http_status = 404


class DefinitionNotFound(NotFound):
    kind = "Definition"
    collection = "definitions"

    def __init__(self, name: str, version: int | None = None):
        api = f"lab.{self.collection}"
        if version is None:
            message = f"No {self.kind.lower()} named {name!r}; list them with {api}.list()."
        else:
            message = f"{self.kind} {name!r} has no version {version}; see its versions with {api}.history({name!r})."
        super().__init__(message)
        self.name, self.version = name, version


class TemplateNotFound(DefinitionNotFound):
    kind, collection = "Template", "templates"


class PipelineNotFound(DefinitionNotFound):
    kind, collection = "Pipeline", "pipelines"


class LabelNotFound(NotFound):
    def __init__(self, kind: str, collection: str, name: str, label: str):
        super().__init__(
            f"{kind} {name!r} has no label {label!r}; set it with lab.{collection}.label({name!r}, VERSION, {label!r}) "
            "(or %prompt label NAME VERSION LABEL)."
        )
        self.name, self.label = name, label


class TargetNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(f"No template or pipeline named {name!r}; see them with %prompt list or lab.templates.list().")
        self.name = name


class ExperimentNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(
            f"No experiment named {name!r}; list them with lab.experiments() or `promptlab experiments list`."
        )
        self.name = name


class RunNotFound(NotFound):
    def __init__(self, run_id: str):
        super().__init__(f"No run with id {run_id!r} in this experiment.")
        self.run_id = run_id


class VariantNotFound(NotFound):
    def __init__(self, name: str, variants: Iterable[str]):
        super().__init__(f"No variant {name!r}; variants: {', '.join(map(repr, variants)) or '(none)'}.")
        self.name = name


class OptimizationNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(
            f"No optimisation named {name!r}; its experiments start with the name lab.optimize printed "
            "(see lab.experiments())."
        )
        self.name = name


class BaselineNotFound(NotFound):
    def __init__(self, experiment: str, targets: Iterable[str]):
        super().__init__(
            f"No experiment before {experiment!r} ran {' or '.join(map(repr, targets))} on the same data; "
            "name the baseline: exp.compare_to('NAME') or --baseline NAME."
        )
        self.experiment = experiment


class Conflict(PromptLabError):
    http_status = 409


class DefinitionNameTaken(Conflict):
    kind = "Definition"

    def __init__(self, name: str):
        super().__init__(f"A {self.kind.lower()} named {name!r} already exists; choose another name.")
        self.name = name


class TemplateNameTaken(DefinitionNameTaken):
    kind = "Template"


class PipelineNameTaken(DefinitionNameTaken):
    kind = "Pipeline"


class DefinitionDeleted(PromptLabError):
    http_status = 410
    kind, collection = "Definition", "definitions"

    def __init__(self, name: str):
        super().__init__(
            f"{self.kind} {name!r} is deleted; restore it with lab.{self.collection}.restore({name!r}) "
            "(or %prompt restore NAME), or choose another name."
        )
        self.name = name


class TemplateDeleted(DefinitionDeleted):
    kind, collection = "Template", "templates"


class PipelineDeleted(DefinitionDeleted):
    kind, collection = "Pipeline", "pipelines"


class ExperimentNameTaken(Conflict):
    def __init__(self, name: str):
        super().__init__(
            f"An experiment named {name!r} already exists; choose another name "
            f"or continue it with lab.experiment({name!r}).resume()."
        )
        self.name = name


class OptimizationNameTaken(Conflict):
    def __init__(self, name: str):
        super().__init__(
            f"An optimisation named {name!r} already exists; choose another name "
            f"or continue it with lab.optimization({name!r}).resume()."
        )
        self.name = name


class ExperimentBusy(Conflict):
    def __init__(self, name: str, owner: str):
        super().__init__(
            f"Experiment {name!r} is running in {owner}; wait for it to finish (lab.experiment({name!r}).status), "
            "or resume it once that session has ended."
        )
        self.name, self.owner = name, owner


class Invalid(PromptLabError):
    http_status = 422


class InvalidTemplate(Invalid):
    def __init__(self, name: str, reason: str, line: int | None = None):
        where = f" (line {line})" if line else ""
        super().__init__(f"Template {name!r} is not valid{where}: {reason}")
        self.name, self.reason, self.line = name, reason, line


class MissingVariables(Invalid):
    http_status = 400

    def __init__(
        self,
        missing: Iterable[str],
        *,
        available: Iterable[str] | None = None,
        where: str = "the template",
        available_as: str = "Available",
    ):
        self.missing = sorted(missing)
        message = f"{where} needs variables that were not given: {', '.join(self.missing)}."
        if available is not None:
            names = sorted(available)
            message += f" {available_as}: {', '.join(names) if names else '(none)'}."
        super().__init__(message[0].upper() + message[1:])


class RenderFailed(Invalid):
    def __init__(self, name: str, reason: str):
        super().__init__(f"Template {name!r} could not be rendered: {reason}")
        self.name, self.reason = name, reason


class UnsafeTemplateOperation(Invalid):
    def __init__(self, reason: str):
        super().__init__(f"The template tried an operation that is not allowed: {reason}")


class InvalidPipeline(Invalid):
    def __init__(self, name: str, reason: str):
        super().__init__(f"Pipeline {name!r} is not valid: {reason}")
        self.name, self.reason = name, reason


class InvalidData(Invalid):
    pass


class InvalidLabel(Invalid):
    def __init__(self, label: str, reason: str):
        super().__init__(f"Label {label!r} is not valid: {reason}.")
        self.label = label


class AmbiguousVariant(Invalid):
    def __init__(self, name: str, matches: Iterable[str]):
        self.matches = list(matches)
        choices = ", ".join(map(repr, self.matches))
        super().__init__(f"{name!r} names {len(self.matches)} variants; name one of: {choices}.")
        self.name = name


class InvalidEvaluator(Invalid):
    pass


class InvalidFile(Invalid):
    """A file given to import or run (an experiment file, a promptfoo config, a .prompty file) that
    cannot be used; ``line`` and ``column`` (1-based) point at the mistake when known."""

    def __init__(self, path: str, reason: str, line: int | None = None, column: int | None = None):
        where = "".join(f":{number}" for number in (line, column) if number is not None)
        super().__init__(f"{path}{where}: {reason}")
        self.path, self.reason, self.line, self.column = path, reason, line, column


class InvalidModelSpec(Invalid):
    pass


class UnknownProvider(InvalidModelSpec):
    def __init__(self, provider: str, known: Iterable[str]):
        super().__init__(
            f"Unknown provider {provider!r}; known providers: {', '.join(sorted(known))}. "
            "Write models as provider:model, e.g. openai:gpt-4o-mini."
        )
        self.provider = provider


class InvalidProviderOptions(Invalid):
    def __init__(self, provider: str, reason: str):
        super().__init__(
            f"The options of provider {provider!r} are not valid ({reason}); check %config PromptLab.providers."
        )
        self.provider = provider


class CostLimitExceeded(PromptLabError):
    def __init__(self, estimated: float, limit: float, calls: int):
        super().__init__(
            f"This experiment makes {calls} calls estimated at ${estimated:.2f}, above the "
            f"cost limit of ${limit:.2f}; raise it (%config PromptLab.cost_limit = ...) "
            "or confirm it: confirm=True in Python, --yes on the magics."
        )
        self.estimated, self.limit, self.calls = estimated, limit, calls


class UnpricedModels(PromptLabError):
    """Calls to a paid provider's models without a known price: their cost cannot be held to the limit."""

    def __init__(self, calls_per_model: dict[str, int], limit: float):
        listed = ", ".join(f"{model} ({calls} calls)" for model, calls in sorted(calls_per_model.items()))
        super().__init__(
            f"This experiment calls models without a known price: {listed}; their cost is not counted "
            f"against the cost limit of ${limit:.2f}. Give their prices (%config PromptLab.providers = "
            "{'<provider>': {'prices': {'<model>': {'input': ..., 'output': ...}}}}, dollars per million "
            "tokens) or confirm it: confirm=True in Python, --yes on the magics."
        )
        self.calls_per_model, self.limit = dict(calls_per_model), limit


class ApiTokenRejected(PromptLabError):
    """A request to ``promptlab serve`` without a valid API token."""

    http_status = 401

    def __init__(self) -> None:
        super().__init__(
            "This request needs a valid API token: send the header 'Authorization: Bearer <token>' with a token "
            "made by: promptlab tokens create NAME --store URL."
        )


class ReadOnlyApiToken(PromptLabError):
    http_status = 403

    def __init__(self, name: str):
        super().__init__(
            f"API token {name!r} is read-only and this request writes; use a token made without --read-only."
        )
        self.name = name


class ApiTokenNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(f"No active API token named {name!r}; list them with: promptlab tokens list --store URL.")
        self.name = name


class ApiTokenNameTaken(Conflict):
    def __init__(self, name: str):
        super().__init__(
            f"An active API token named {name!r} already exists; choose another name, "
            f"or revoke it first: promptlab tokens revoke {name} --store URL."
        )
        self.name = name


class StoreError(PromptLabError):
    http_status = 503


class InvalidStore(StoreError):
    def __init__(self, location: str, reason: str):
        super().__init__(
            f"{location} is not a promptlab store ({reason}); it was left untouched. "
            "Point PROMPTLAB_URL or Lab(url) at another file."
        )
        self.location = location


class StoreMissing(StoreError):
    http_status = 404

    def __init__(self, location: str, *, existed: bool = True):
        where = f"The store file no longer exists: it was at {location}." if existed else f"No store at {location} yet."
        super().__init__(
            f"{where} Run a %%prompt cell to start a store there, or point PROMPTLAB_URL or Lab(url) at another store."
        )
        self.location, self.existed = location, existed


class StoreTooNew(StoreError):
    def __init__(self, location: str, revision: str):
        super().__init__(
            f"{location} was written by a newer promptlab_nb (schema {revision}); it was left "
            "untouched. Upgrade with: pip install -U promptlab_nb"
        )
        self.location, self.revision = location, revision


class StoreLocked(StoreError):
    def __init__(self, location: str, holder: str | None, waited: float):
        who = f" by {holder}" if holder else " by another process"
        super().__init__(
            f"{location} is held{who} and stayed locked for {waited:.0f} s; close the other "
            "notebook's long-running work or use a PostgreSQL store for concurrent writers."
        )
        self.location, self.holder = location, holder


class RunsNotStored(StoreLocked):
    """The last write of a run found the store locked: the answers received are kept in this session."""

    def __init__(self, locked: StoreLocked, experiment: str, runs: int):
        PromptLabError.__init__(
            self,
            f"{locked} {runs} runs of {experiment!r} were received but not stored: they are kept in this "
            f"session, and lab.experiment({experiment!r}).resume() stores them without calling the models again.",
        )
        self.location, self.holder, self.experiment, self.runs = locked.location, locked.holder, experiment, runs


class ProviderError(PromptLabError):
    """A call to a model provider failed. ``retryable`` tells the runner whether to retry."""

    retryable = False
    http_status = 502

    def __init__(self, message: str, *, provider: str = "", status: int | None = None):
        super().__init__(message)
        self.provider, self.status = provider, status


class AuthenticationFailed(ProviderError):
    def __init__(self, provider: str, env_var: str, detail: str = ""):
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"{provider} rejected the credentials{suffix}; set {env_var} in the environment "
            "of the kernel and try again.",
            provider=provider,
            status=401,
        )
        self.env_var = env_var


class MissingCredentials(AuthenticationFailed):
    def __init__(self, provider: str, env_var: str):
        ProviderError.__init__(
            self,
            f"No API key for {provider}; set {env_var} in the environment of the kernel.",
            provider=provider,
        )
        self.env_var = env_var


class RateLimited(ProviderError):
    retryable = True

    def __init__(self, message: str, *, provider: str = "", retry_after: float | None = None):
        super().__init__(message, provider=provider, status=429)
        self.retry_after = retry_after


class RetryAfterTooLong(RateLimited):
    """The provider asked for a longer wait than ``PromptLab.max_retry_wait``: not retried."""

    retryable = False

    def __init__(self, provider: str, retry_after: float, max_wait: float, until: str | None):
        wait = f"{retry_after:.0f} s, until {until}" if until else "without a limit"
        super().__init__(
            f"{provider} is rate limiting and asked to wait {wait}, longer than PromptLab.max_retry_wait "
            f"({max_wait:g} s). Come back {f'after {until}' if until else 'later'} and resume the experiment "
            "(exp.resume()), or raise %config PromptLab.max_retry_wait.",
            provider=provider,
            retry_after=retry_after,
        )
        self.max_wait, self.until = max_wait, until


class ProviderTimeout(ProviderError):
    retryable = True


class ProviderUnavailable(ProviderError):
    retryable = True


class BadRequest(ProviderError):
    pass


class ContextTooLong(BadRequest):
    pass


class ContentFiltered(BadRequest):
    pass


class ProviderNotConfigured(ProviderError):
    def __init__(self, provider: str, option: str, example: str):
        super().__init__(
            f"{provider} needs the option {option!r}; set it with "
            f"%config PromptLab.providers = {{{provider!r}: {{{option!r}: {example!r}}}}}.",
            provider=provider,
        )
        self.option = option


class BatchNotSupported(Invalid):
    def __init__(self, provider: str):
        super().__init__(
            f'{provider} has no batch API in promptlab_nb; run its models live (without mode="batch" / --batch). '
            "Batch mode works for openai, anthropic, gemini and mock models."
        )
        self.provider = provider


class BatchModeUnsupported(Invalid):
    pass


class BatchItemFailed(ProviderError):
    """One request of a provider batch got no answer: the provider's reason is the message."""

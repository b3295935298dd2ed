"""%%prompt, %%pipeline and %prompt: parse the line, call the Lab, return what to display."""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, magics_class, no_var_expand
from IPython.display import display

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import DefinitionNotFound, InvalidTemplate, PromptLabError, TargetNotFound
from promptlab_nb.core.vocabulary import Mode
from promptlab_nb.display.cards import DEFAULT_MODEL_HINT
from promptlab_nb.notebook import arguments, session
from promptlab_nb.schemas.references import Reference


@contextmanager
def user_errors() -> Iterator[None]:
    """A mistake the user can fix is shown as one line, without a traceback."""
    try:
        yield
    except PromptLabError as error:
        raise UsageError(str(error)) from None


BODY_FIRST_LINE = 2


@contextmanager
def editor_line_numbers() -> Iterator[None]:
    """A template error names the line as the editor numbers it: the magic line is line 1."""
    try:
        yield
    except InvalidTemplate as error:
        if error.line is None:
            raise
        raise InvalidTemplate(error.name, error.reason, error.line + BODY_FIRST_LINE - 1) from None


@magics_class
class PromptMagics(Magics):
    def __init__(self, shell, settings: PromptLab):
        super().__init__(shell)
        self.settings = settings
        self._default_model_named = False
        self._commands: dict[str, Callable[[Namespace], Any]] = {
            "run": lambda options: self._run("run", options),
            "compare": self._compare,
            "list": self._list,
            "show": self._show,
            "history": self._history,
            "label": self._label,
            "diff": self._diff,
            "duplicate": self._duplicate,
            "delete": lambda options: self._lifecycle("delete", options),
            "restore": lambda options: self._lifecycle("restore", options),
            "experiments": self._experiments,
            "optimize": self._optimize,
            "batches": self._batches,
            "runs": self._runs,
            "report": self._report,
            "import": self._import,
            "export": self._export,
            "models": self._models,
            "help": self._help,
        }

    @property
    def _user_namespace(self) -> dict[str, Any]:
        if self.shell is None:
            raise UsageError("The promptlab_nb magics run in an IPython shell; load them with %load_ext promptlab_nb.")
        return self.shell.user_ns

    @property
    def lab(self):
        return session.current_lab()

    @no_var_expand
    @line_cell_magic
    @arguments.with_help(arguments.reference())
    def prompt(self, line: str, cell: str | None = None) -> Any:
        with user_errors():
            if cell is None:
                return self._line_command(line)
            return self._save_template(line, cell)

    @no_var_expand
    @cell_magic
    @arguments.with_help(arguments.PIPELINE_CELL.parser().format_help())
    def pipeline(self, line: str, cell: str) -> Any:
        from promptlab_nb.notebook.pipelines_yaml import steps_from_yaml
        from promptlab_nb.notebook.views import saved_with_diff

        options = arguments.PIPELINE_CELL.parse(arguments.split_line(line))
        with user_errors():
            definition = steps_from_yaml(options.pipeline_name, cell, first_line=BODY_FIRST_LINE)
            pipeline = self.lab.pipelines.save(
                options.pipeline_name,
                definition["steps"],
                inputs=definition.get("inputs"),
                description=options.description or definition.get("description"),
            )
            return saved_with_diff(self.lab.pipelines, pipeline)

    def _line_command(self, line: str) -> Any:
        words = arguments.split_line(line)
        if not words:
            raise UsageError("%prompt needs a subcommand: " + ", ".join(self._commands) + ". See %prompt help.")
        command, rest = words[0], words[1:]
        if command not in self._commands:
            raise UsageError(f"Unknown subcommand {command!r}; use one of: {', '.join(self._commands)}.")
        return self._commands[command](arguments.SUBCOMMANDS[command].parse(rest))

    def _save_template(self, line: str, cell: str) -> Any:
        from promptlab_nb.notebook.views import saved_with_diff

        options = arguments.TEMPLATE_CELL.parse(arguments.split_line(line))
        param_sets = arguments.parse_params(options.params)
        if len(param_sets) > 1:
            raise UsageError("%%prompt saves one set of params; give each -p key once.")
        params = {**(param_sets[0] if param_sets else {}), **self._generation_options(options)}
        with editor_line_numbers():
            run_row = self._notebook_variables(options.template_name, cell) if options.run else None
            template = self.lab.templates.save(
                options.template_name, cell, model=options.model, params=params, description=options.description
            )
        if template.model is None and not self.settings.default_model_chosen:
            template = template.answered_by_unchosen_default(self.settings.default_model)
        saved = saved_with_diff(self.lab.templates, template)
        if options.data is not None:
            display(saved)
            return self._execute(template.name, options, data=self._data(options.data))
        if run_row is not None:
            display(saved)
            self._name_the_default_model([template.name], models=[])
            return self.lab.stream_once(template.name, run_row, on_text=_print_chunk)
        return saved

    def _generation_options(self, options) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if options.temperature is not None:
            params["temperature"] = options.temperature
        if options.max_tokens is not None:
            params["max_tokens"] = options.max_tokens
        if options.json:
            params["response_format"] = "json"
        if options.schema:
            schema = self._namespace_value(options.schema, "a JSON schema dict")
            if not isinstance(schema, dict):
                raise UsageError(
                    f"--schema {options.schema}: expected a dict holding a JSON schema, got {type(schema).__name__}."
                )
            params["response_format"] = schema
        return params

    def _notebook_variables(self, name: str, body: str) -> dict[str, Any]:
        """The notebook variables a body needs, checked before anything is saved, and the optional ones defined."""
        from promptlab_nb.engine.templating import compile_template

        template = compile_template(body, name)
        missing = [variable for variable in template.variables if variable not in self._user_namespace]
        if missing:
            raise UsageError(f"--run needs notebook variables for {', '.join(missing)}; define them or use --on DATA.")
        given = [*template.variables, *template.optional_variables]
        return {variable: self._user_namespace[variable] for variable in given if variable in self._user_namespace}

    def _run(self, command: str, options: Namespace) -> Any:
        if options.data is None:
            raise UsageError(f"%prompt {command} needs --on DATA (a DataFrame, list of dicts or file path).")
        return self._execute(options.targets, options, data=self._data(options.data))

    def _compare(self, options: Namespace) -> Any:
        """The experiment; with ``--baseline``, its paired differences from the baseline shown first."""
        if options.baseline is not None and options.batch:
            raise UsageError("--baseline compares finished runs; after a --batch run use exp.compare_to(...).")
        experiment = self._run("compare", options)
        if options.baseline is not None:
            display(experiment.compare_to(options.baseline or None))
        return experiment

    def _execute(self, targets: str | list[str], options, data: Any) -> Any:
        models = arguments.split_models(getattr(options, "models", None))
        param_sets = arguments.parse_params(getattr(options, "params", None)) if isinstance(targets, list) else []
        self._name_the_default_model([targets] if isinstance(targets, str) else targets, models)
        return self.lab.compare(
            targets,
            data,
            models=models or None,
            params=param_sets or None,
            repeats=options.repeats,
            name=options.name,
            evaluators=options.evaluators,
            cache=options.cache,
            concurrency=options.concurrency,
            confirm=options.confirm,
            mode=Mode.BATCH if options.batch else Mode.LIVE,
        )

    def _name_the_default_model(self, targets: list[str], models: list[str]) -> None:
        """The first run answered by the built-in default model says so, once per kernel."""
        if self._default_model_named or models or self.settings.default_model_chosen:
            return
        if any(self._answered_by_default(target) for target in targets):
            self._default_model_named = True
            print(f"Answering with {self.settings.default_model}: no model is configured; {DEFAULT_MODEL_HINT}.")

    def _answered_by_default(self, target: str) -> bool:
        try:
            reference = Reference.parse(target)
            service = self._definition_service(reference.name)
            definition = service.get(reference.name, reference.version, label=reference.label)
        except PromptLabError:
            return False
        if service is self.lab.templates:
            return definition.model is None
        return any(
            step.model is None and self.lab.templates.get(step.template, step.version, label=step.label).model is None
            for step in definition.steps
        )

    def _data(self, name: str) -> Any:
        if name in self._user_namespace:
            value = self._user_namespace[name]
            if isinstance(value, (str, Path)):
                return value
            if _is_tabular(value):
                return value
            raise UsageError(
                f"--on {name}: a {type(value).__name__} is not tabular; "
                "use a DataFrame, a list of dicts, a dict or a file path."
            )
        if Path(name).expanduser().exists():
            return name
        raise UsageError(f"--on {name}: no notebook variable or file of that name.")

    def _namespace_value(self, name: str, what: str) -> Any:
        if name not in self._user_namespace:
            raise UsageError(f"No notebook variable {name!r}; define {what} first.")
        return self._user_namespace[name]

    def _definition_service(self, name: str):
        """The templates service when ``name`` is a template, else the pipelines service."""
        for service in (self.lab.templates, self.lab.pipelines):
            try:
                service.history(name)
                return service
            except DefinitionNotFound:
                continue
        raise TargetNotFound(name)

    def _list(self, options: Namespace) -> Any:
        import pandas as pd

        templates = self.lab.templates.list().assign(kind="template")
        pipelines = self.lab.pipelines.list().assign(kind="pipeline")
        frames = [frame for frame in (templates, pipelines) if not frame.empty]
        return pd.concat(frames, ignore_index=True) if frames else templates

    def _show(self, options: Namespace) -> Any:
        return self._definition_service(options.name).get(options.name, options.version, label=options.label)

    def _label(self, options: Namespace) -> Any:
        return self._definition_service(options.name).label(options.name, options.version, options.label)

    def _history(self, options: Namespace) -> Any:
        from promptlab_nb.notebook.views import history_frame

        return history_frame(self._definition_service(options.name).history(options.name))

    def _diff(self, options: Namespace) -> Any:
        return self._definition_service(options.name).diff(options.name, options.v1, options.v2)

    def _duplicate(self, options: Namespace) -> Any:
        return self._definition_service(options.name).duplicate(options.name, options.new)

    def _lifecycle(self, command: str, options: Namespace) -> Any:
        return getattr(self._definition_service(options.name), command)(options.name)

    def _experiments(self, options: Namespace) -> Any:
        return self.lab.experiments()

    def _optimize(self, options: Namespace) -> Any:
        if options.data is None:
            raise UsageError("%prompt optimize needs --on DATA (a DataFrame, list of dicts or file path).")
        if not options.evaluators:
            raise UsageError("%prompt optimize needs --eval SPEC to score the candidates, e.g. --eval equals:expected.")
        return self.lab.optimize(
            options.template_name,
            self._data(options.data),
            evaluators=options.evaluators,
            optimizer_model=options.optimizer,
            rounds=options.rounds,
            candidates=options.candidates,
            holdout=options.holdout,
            budget=options.budget,
            seed=options.seed,
            name=options.name,
            confirm=options.confirm,
            cache=options.cache,
        )

    def _batches(self, options: Namespace) -> Any:
        return self.lab.batches(refresh=options.refresh)

    def _runs(self, options: Namespace) -> Any:
        name = options.experiment
        if name is None:
            listing = self.lab.experiments()
            if listing.empty:
                raise UsageError("No experiments yet; run one with %prompt run NAME --on DATA.")
            name = listing["name"].iloc[0]
        from promptlab_nb.notebook.views import runs_view

        return runs_view(self.lab.experiment(name), self.settings.display_rows)

    def _report(self, options: Namespace) -> Any:
        from IPython.display import FileLink

        path = self.lab.experiment(options.experiment).report(
            options.out or f"{options.experiment}.html", max_rows=options.max_rows
        )
        return FileLink(str(path))

    def _import(self, options: Namespace) -> Any:
        return self.lab.import_file(options.file)

    def _export(self, options: Namespace) -> Any:
        from IPython.display import FileLink

        return FileLink(str(self.lab.export_prompty(options.name, options.path, options.version)))

    def _models(self, options: Namespace) -> Any:
        return self.lab.models()

    def _help(self, options: Namespace) -> None:
        print(arguments.reference())


def _is_tabular(value: Any) -> bool:
    import pandas as pd

    if isinstance(value, (pd.DataFrame, dict)):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(item, dict) for item in value)


def _print_chunk(text: str) -> None:
    print(text, end="", flush=True)


_DATAFRAME_MODULES = ("pandas", "pandas.core.frame")


def _html_formatter(shell):
    return shell.display_formatter.formatters["text/html"]


def _dataframe_html(frame) -> str | None:
    from promptlab_nb.display.tables import dataframe_html_without_math

    return dataframe_html_without_math(frame)


def _loaded_dataframe_type() -> type | None:
    import sys

    pandas = sys.modules.get("pandas")
    return pandas.DataFrame if pandas is not None else None


def register(shell) -> None:
    settings = next((item for item in shell.configurables if isinstance(item, PromptLab)), None)
    if settings is None:
        settings = PromptLab(parent=shell)
        shell.configurables.append(settings)
    session.use_settings(settings)
    shell.register_magics(PromptMagics(shell, settings))
    for module in _DATAFRAME_MODULES:
        _html_formatter(shell).for_type_by_name(module, "DataFrame", _dataframe_html)


def unregister(shell) -> None:
    shell.configurables[:] = [item for item in shell.configurables if not isinstance(item, PromptLab)]
    session.forget()
    for module in _DATAFRAME_MODULES:
        _html_formatter(shell).deferred_printers.pop((module, "DataFrame"), None)
    _html_formatter(shell).type_printers.pop(_loaded_dataframe_type(), None)

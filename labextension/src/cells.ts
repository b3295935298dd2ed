export type CellLanguage = 'prompt' | 'pipeline';

const KERNEL_MIME_TYPES_WITH_CELL_MAGICS = new Set([
  'text/x-ipython',
  'text/x-python'
]);

const MAGIC_HEADER = /^(?:[ \t]*\r?\n)*%%(prompt|pipeline)(?=[ \t\r\n]|$)/;

/**
 * The language of a cell whose kernel speaks IPython: `%%prompt` cells are prompt templates,
 * `%%pipeline` cells YAML pipelines; any other cell, or any cell of another kernel, keeps its kernel's language.
 */
export function cellLanguage(
  source: string,
  kernelMimeType: string
): CellLanguage | null {
  if (!KERNEL_MIME_TYPES_WITH_CELL_MAGICS.has(kernelMimeType)) {
    return null;
  }
  const header = MAGIC_HEADER.exec(source);
  return header ? (header[1] as CellLanguage) : null;
}

export interface ITemplateSource {
  name: string;
  body: string;
  model: string | null;
  params: Record<string, unknown>;
  description: string | null;
}

const SHELL_SAFE = /^[\w@%+=:,./-]+$/;

function shellQuote(text: string): string {
  return SHELL_SAFE.test(text) ? text : `'${text.replace(/'/g, `'"'"'`)}'`;
}

/** A param key that `-p KEY=VALUE` stores as written (the magic reads `-` in a key as `_`). */
const MAGIC_PARAM_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A description that `--description TEXT` reads back: one line, not taken for an option. */
function fitsMagicLine(description: string | null): boolean {
  return description === null || !/[\r\n]|^-/.test(description);
}

/** The kernel ends a cell's text with a line break, so only such a body is read back as it was. */
function fitsMagicBody(body: string): boolean {
  return body.endsWith('\n');
}

/**
 * A cell that saves the template as it is stored, so re-running it leaves the version unchanged: a
 * `%%prompt` cell, or a Python cell calling `templates.save` when a `%%prompt` cell cannot carry the
 * template: a description with a line break or a leading `-`, a param key such as `top-k`, or a body
 * that does not end with a line break (saved from Python or the API).
 */
export function promptCellSource(template: ITemplateSource): string {
  const keys = Object.keys(template.params);
  if (
    keys.every(key => MAGIC_PARAM_KEY.test(key)) &&
    fitsMagicLine(template.description) &&
    fitsMagicBody(template.body)
  ) {
    return promptMagicSource(template);
  }
  return templateSaveSource(template);
}

function promptMagicSource(template: ITemplateSource): string {
  const options = [
    ...(template.model ? ['--model', template.model] : []),
    ...Object.entries(template.params).flatMap(([key, value]) => [
      '-p',
      `${key}=${JSON.stringify(value)}`
    ]),
    ...(template.description ? ['--description', template.description] : [])
  ];
  const header = ['%%prompt', template.name, ...options]
    .map(shellQuote)
    .join(' ');
  return `${header}\n${template.body}`;
}

/** A JSON value written as the Python literal of the same value. */
export function pythonLiteral(value: unknown): string {
  if (value === null || value === undefined) {
    return 'None';
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (Array.isArray(value)) {
    return `[${value.map(pythonLiteral).join(', ')}]`;
  }
  if (typeof value === 'object') {
    const items = Object.entries(value as Record<string, unknown>).map(
      ([key, item]) => `${JSON.stringify(key)}: ${pythonLiteral(item)}`
    );
    return `{${items.join(', ')}}`;
  }
  return JSON.stringify(value);
}

function templateSaveSource(template: ITemplateSource): string {
  const args = [
    pythonLiteral(template.name),
    pythonLiteral(template.body),
    `model=${pythonLiteral(template.model)}`,
    `params=${pythonLiteral(template.params)}`,
    `description=${pythonLiteral(template.description)}`
  ];
  return [
    'import promptlab_nb as pl',
    '',
    'pl.current_lab().templates.save(',
    ...args.map(arg => `    ${arg},`),
    ')'
  ].join('\n');
}

export function experimentCellSource(name: string): string {
  return `import promptlab_nb as pl\npl.current_lab().experiment(${JSON.stringify(name)})`;
}

export interface IPipelineSource {
  name: string;
  steps: Record<string, unknown>[];
  description: string | null;
}

const YAML_PLAIN = /^[A-Za-z_][\w.@:/-]*$/;
const YAML_WORDS = /^(y|yes|n|no|true|false|on|off|null)$/i;

/** A JSON value as YAML: plain words stay plain; other values are written as JSON, which YAML reads as it was. */
function yamlValue(value: unknown): string {
  return typeof value === 'string' &&
    YAML_PLAIN.test(value) &&
    !YAML_WORDS.test(value)
    ? value
    : JSON.stringify(value);
}

/** A step as YAML lines, leaving out the values a step has when they are not given. */
function stepLines(step: Record<string, unknown>): string[] {
  return Object.entries(step)
    .filter(
      ([, value]) =>
        value !== null &&
        !(
          typeof value === 'object' &&
          !Array.isArray(value) &&
          Object.keys(value as object).length === 0
        )
    )
    .map(
      ([key, value], index) =>
        `${index ? '  ' : '- '}${key}: ${yamlValue(value)}`
    );
}

/** A `%%pipeline` cell that saves the pipeline as it is stored: its steps as YAML, its description if any. */
export function pipelineCellSource(pipeline: IPipelineSource): string {
  const steps = pipeline.steps.flatMap(stepLines);
  const body =
    pipeline.description === null
      ? steps
      : [
          `description: ${JSON.stringify(pipeline.description)}`,
          'steps:',
          ...steps
        ];
  return `${['%%pipeline', pipeline.name].map(shellQuote).join(' ')}\n${body.join('\n')}\n`;
}

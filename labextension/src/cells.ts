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

/** A `%%prompt` cell that saves the template as it is stored: re-running it leaves the version unchanged. */
export function promptCellSource(template: ITemplateSource): string {
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

export function experimentCellSource(name: string): string {
  return `import promptlab_nb as pl\npl.lab().experiment(${JSON.stringify(name)})`;
}

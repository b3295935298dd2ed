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

export function promptCellSource(
  name: string,
  body: string,
  model: string | null
): string {
  const options = model ? ` --model ${model}` : '';
  return `%%prompt ${name}${options}\n${body}`;
}

export function experimentCellSource(name: string): string {
  return `import promptlab_nb as pl\npl.lab().experiment(${JSON.stringify(name)})`;
}

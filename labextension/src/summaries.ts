export interface IExperimentFacts {
  status: string;
  variants: number;
  rows: number;
  repeats: number;
  cost: number | null;
  best_variant: string | null;
  tied_variants: string[];
}

export interface ITemplateFacts {
  version: number;
  labels: Record<string, number>;
  model: string | null;
  variables: string[];
}

export interface IPipelineFacts {
  version: number;
  labels: Record<string, number>;
  steps: string[];
  inputs: string[];
}

export const STORE_FILE = 'promptlab.duckdb';

/** "1 variant", "2 variants". */
export function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** "production → v2 · staging → v3", or '' without labels (older servers send none). */
export function labelsLine(labels: Record<string, number> | undefined): string {
  return Object.entries(labels ?? {})
    .map(([label, version]) => `${label} → v${version}`)
    .join(' · ');
}

export function templateDetails(template: ITemplateFacts): string[] {
  const variables = template.variables.length
    ? template.variables.join(', ')
    : 'no variables';
  return [
    `v${template.version} · ${template.model ?? 'default model'}`,
    labelsLine(template.labels),
    variables
  ];
}

export function pipelineDetails(pipeline: IPipelineFacts): string[] {
  return [
    `v${pipeline.version} · ${counted(pipeline.steps.length, 'step')}: ${pipeline.steps.join(' → ')}`,
    labelsLine(pipeline.labels),
    pipeline.inputs.length ? pipeline.inputs.join(', ') : 'no inputs'
  ];
}

function verdict(experiment: IExperimentFacts): string {
  if (experiment.tied_variants.length > 1) {
    return `tie: ${experiment.tied_variants.join(', ')}`;
  }
  return experiment.best_variant ? `best: ${experiment.best_variant}` : '';
}

export function experimentDetails(experiment: IExperimentFacts): string[] {
  const cost =
    experiment.cost === null ? '' : ` · $${experiment.cost.toFixed(4)}`;
  const repeats =
    experiment.repeats > 1 ? ` × ${counted(experiment.repeats, 'repeat')}` : '';
  const size = `${counted(experiment.variants, 'variant')} × ${counted(experiment.rows, 'row')}`;
  return [
    `${experiment.status} · ${size}${repeats}${cost}`,
    verdict(experiment)
  ];
}

/** The store a notebook's kernel opens by default: promptlab.duckdb in the notebook's folder (its working directory). */
export function storeBesideNotebook(notebookPath: string): string {
  const slash = notebookPath.lastIndexOf('/');
  return slash < 0
    ? STORE_FILE
    : `${notebookPath.slice(0, slash)}/${STORE_FILE}`;
}

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface TemplateSummary {
  name: string;
  version: number;
  variables: string[];
  model: string | null;
  description: string | null;
}

export interface Template extends TemplateSummary {
  body: string;
  params: Record<string, unknown>;
}

export interface ExperimentSummary {
  name: string;
  status: string;
  variants: number;
  rows: number;
  repeats: number;
  runs: number;
  errors: number;
  cost: number | null;
  best_variant: string | null;
}

async function requestLab<T>(path: string): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'promptlab', 'api', path);
  const response = await ServerConnection.makeRequest(url, {}, settings);
  const body = await response.json();
  if (!response.ok) {
    throw new Error(
      body.message ?? `${response.status} ${response.statusText}`
    );
  }
  return body as T;
}

export async function listTemplates(): Promise<TemplateSummary[]> {
  return (await requestLab<{ templates: TemplateSummary[] }>('templates'))
    .templates;
}

export async function getTemplate(name: string): Promise<Template> {
  return requestLab<Template>(`templates/${encodeURIComponent(name)}`);
}

export async function listExperiments(): Promise<ExperimentSummary[]> {
  return (await requestLab<{ experiments: ExperimentSummary[] }>('experiments'))
    .experiments;
}

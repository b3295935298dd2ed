import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface TemplateSummary {
  name: string;
  version: number;
  labels: Record<string, number>;
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
  tied_variants: string[];
}

export interface PipelineSummary {
  name: string;
  version: number;
  labels: Record<string, number>;
  steps: string[];
  inputs: string[];
  outputs: string[];
  description: string | null;
}

export interface Pipeline {
  name: string;
  version: number;
  steps: Record<string, unknown>[];
  description: string | null;
}

export interface StoreChoice {
  name: string;
  path: string | null;
}

export interface StoreList {
  stores: StoreChoice[];
  follows_notebook: boolean;
}

/** A store as the API names it: a .duckdb path relative to the server root, or null for its default store. */
export type StorePath = string | null;

async function requestLab<T>(path: string, store: StorePath): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const query = store === null ? '' : `?store=${encodeURIComponent(store)}`;
  const url = URLExt.join(settings.baseUrl, 'promptlab', 'api', path) + query;
  const response = await ServerConnection.makeRequest(url, {}, settings);
  const body = await response.json();
  if (!response.ok) {
    throw new Error(
      body.message ?? `${response.status} ${response.statusText}`
    );
  }
  return body as T;
}

export async function listStores(): Promise<StoreList> {
  return requestLab<StoreList>('stores', null);
}

export async function listTemplates(
  store: StorePath
): Promise<TemplateSummary[]> {
  return (
    await requestLab<{ templates: TemplateSummary[] }>('templates', store)
  ).templates;
}

export async function getTemplate(
  name: string,
  store: StorePath
): Promise<Template> {
  return requestLab<Template>(`templates/${encodeURIComponent(name)}`, store);
}

export async function listPipelines(
  store: StorePath
): Promise<PipelineSummary[]> {
  return (
    await requestLab<{ pipelines: PipelineSummary[] }>('pipelines', store)
  ).pipelines;
}

export async function getPipeline(
  name: string,
  store: StorePath
): Promise<Pipeline> {
  return requestLab<Pipeline>(`pipelines/${encodeURIComponent(name)}`, store);
}

export async function listExperiments(
  store: StorePath
): Promise<ExperimentSummary[]> {
  return (
    await requestLab<{ experiments: ExperimentSummary[] }>('experiments', store)
  ).experiments;
}

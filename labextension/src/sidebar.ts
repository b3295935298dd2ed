import { Widget } from '@lumino/widgets';

import {
  ExperimentSummary,
  listExperiments,
  listPipelines,
  listStores,
  listTemplates,
  PipelineSummary,
  StoreChoice,
  StorePath,
  TemplateSummary
} from './api';
import {
  experimentDetails,
  pipelineDetails,
  storeBesideNotebook,
  templateDetails
} from './summaries';

export interface ISidebarActions {
  openTemplate(name: string, store: StorePath): Promise<void>;
  openPipeline(name: string, store: StorePath): Promise<void>;
  openExperiment(name: string): void;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

function entry(
  title: string,
  details: string[],
  onClick: () => Promise<void>
): HTMLLIElement {
  const item = element('li', 'pl-Sidebar-entry');
  const button = element('button', 'pl-Sidebar-open', title);
  button.addEventListener('click', () => void onClick());
  item.append(button);
  for (const detail of details.filter(Boolean)) {
    item.append(element('div', 'pl-Sidebar-detail', detail));
  }
  return item;
}

const DEFAULT_STORE_OPTION = '';

/** The "Prompt Lab" side panel: templates, pipelines and experiments of the store the active notebook uses. */
export class PromptLabSidebar extends Widget {
  private readonly storeName = element('div', 'pl-Sidebar-store');
  private readonly storeSelector = element('select', 'pl-Sidebar-stores');
  private readonly templates = element(
    'ul',
    'pl-Sidebar-list pl-Sidebar-templates'
  );
  private readonly pipelines = element(
    'ul',
    'pl-Sidebar-list pl-Sidebar-pipelines'
  );
  private readonly experiments = element(
    'ul',
    'pl-Sidebar-list pl-Sidebar-experiments'
  );
  private readonly status = element('div', 'pl-Sidebar-status');
  private store: StorePath = null;
  private notebookPath: string | null = null;
  private followsNotebook = true;
  private loading = false;
  private reloadAfterwards = false;

  constructor(private readonly actions: ISidebarActions) {
    super();
    this.id = 'promptlab-sidebar';
    this.addClass('pl-Sidebar');
    const refresh = element('button', 'pl-Sidebar-refresh', 'Refresh');
    refresh.title = 'Reload templates and experiments from the store';
    refresh.addEventListener('click', () => void this.refresh());
    this.storeSelector.title = 'The stores under this server';
    this.storeSelector.addEventListener('change', () => {
      const chosen = this.storeSelector.value;
      this.store = chosen === DEFAULT_STORE_OPTION ? null : chosen;
      void this.refresh();
    });
    this.node.append(
      element('h2', 'pl-Sidebar-title', 'Prompt Lab'),
      this.storeName,
      this.storeSelector,
      refresh,
      this.status,
      element('h3', 'pl-Sidebar-heading', 'Templates'),
      this.templates,
      element('h3', 'pl-Sidebar-heading', 'Pipelines'),
      this.pipelines,
      element('h3', 'pl-Sidebar-heading', 'Experiments'),
      this.experiments
    );
  }

  /** Shows the store of the notebook at `path` (relative to the server root), when the server follows notebooks. */
  followNotebook(path: string | null): void {
    this.notebookPath = path;
    this.store = this.storeOfNotebook();
    if (this.isVisible) {
      void this.refresh();
    }
  }

  private storeOfNotebook(): StorePath {
    return this.followsNotebook && this.notebookPath !== null
      ? storeBesideNotebook(this.notebookPath)
      : null;
  }

  private async open(action: () => Promise<void> | void): Promise<void> {
    try {
      await action();
      this.status.textContent = '';
    } catch (error) {
      this.status.textContent = `Could not insert the cell: ${(error as Error).message}`;
    }
  }

  /** Reloads from the store (the panel has the class pl-mod-loading meanwhile); calls while a reload runs
   * (e.g. from "Run All") make one more reload. */
  async refresh(): Promise<void> {
    if (this.loading) {
      this.reloadAfterwards = true;
      return;
    }
    this.loading = true;
    this.addClass('pl-mod-loading');
    try {
      do {
        this.reloadAfterwards = false;
        await this.load();
      } while (this.reloadAfterwards);
    } finally {
      this.loading = false;
      this.removeClass('pl-mod-loading');
    }
  }

  private async load(): Promise<void> {
    const store = this.store;
    const [stores, templates, pipelines, experiments] =
      await Promise.allSettled([
        listStores(),
        listTemplates(store),
        listPipelines(store),
        listExperiments(store)
      ]);
    if (stores.status === 'fulfilled') {
      this.showStores(stores.value.stores, stores.value.follows_notebook);
    }
    this.showList(templates, this.templates, template =>
      this.templateEntry(template, store)
    );
    this.showList(pipelines, this.pipelines, pipeline =>
      this.pipelineEntry(pipeline, store)
    );
    this.showList(experiments, this.experiments, experiment =>
      this.experimentEntry(experiment)
    );
    const problems = [stores, templates, pipelines, experiments]
      .filter(result => result.status === 'rejected')
      .map(result => (result as PromiseRejectedResult).reason.message);
    this.status.textContent = [...new Set(problems)].join('\n');
  }

  private showStores(stores: StoreChoice[], followsNotebook: boolean): void {
    if (followsNotebook !== this.followsNotebook) {
      this.followsNotebook = followsNotebook;
      this.store = this.storeOfNotebook();
      this.reloadAfterwards = true;
    }
    const shown = this.store ?? DEFAULT_STORE_OPTION;
    const choices = stores.map(store => ({
      value: store.path ?? DEFAULT_STORE_OPTION,
      name: store.name
    }));
    if (!choices.some(choice => choice.value === shown)) {
      choices.unshift({
        value: shown,
        name: this.store ?? 'the server’s store'
      });
    }
    this.storeSelector.replaceChildren(
      ...choices.map(choice => {
        const option = element('option', '', choice.name);
        option.value = choice.value;
        return option;
      })
    );
    this.storeSelector.value = shown;
    const current = choices.find(choice => choice.value === shown);
    this.storeName.textContent = `Store: ${current?.name ?? shown}`;
  }

  private showList<T>(
    result: PromiseSettledResult<T[]>,
    list: HTMLUListElement,
    entryOf: (item: T) => HTMLLIElement
  ): void {
    const items = result.status === 'fulfilled' ? result.value : [];
    list.replaceChildren(...items.map(entryOf));
    if (!items.length && result.status === 'fulfilled') {
      list.append(
        element('li', 'pl-Sidebar-empty', EMPTY_LISTS[list.className])
      );
    }
  }

  private templateEntry(
    template: TemplateSummary,
    store: StorePath
  ): HTMLLIElement {
    return entry(template.name, templateDetails(template), () =>
      this.open(() => this.actions.openTemplate(template.name, store))
    );
  }

  private pipelineEntry(
    pipeline: PipelineSummary,
    store: StorePath
  ): HTMLLIElement {
    return entry(pipeline.name, pipelineDetails(pipeline), () =>
      this.open(() => this.actions.openPipeline(pipeline.name, store))
    );
  }

  private experimentEntry(experiment: ExperimentSummary): HTMLLIElement {
    return entry(experiment.name, experimentDetails(experiment), () =>
      this.open(() => this.actions.openExperiment(experiment.name))
    );
  }

  /** After a cell ran: reloads while the panel shows; a hidden panel reloads when it is shown. */
  cellExecuted(): void {
    if (this.isVisible) {
      void this.refresh();
    }
  }

  protected onAfterShow(): void {
    void this.refresh();
  }
}

const EMPTY_LISTS: Record<string, string> = {
  'pl-Sidebar-list pl-Sidebar-templates':
    'No templates yet: run a %%prompt cell.',
  'pl-Sidebar-list pl-Sidebar-pipelines':
    'No pipelines yet: run a %%pipeline cell.',
  'pl-Sidebar-list pl-Sidebar-experiments':
    'No experiments yet: run %prompt compare.'
};

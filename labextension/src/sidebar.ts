import { Widget } from '@lumino/widgets';

import {
  ExperimentSummary,
  listExperiments,
  listTemplates,
  TemplateSummary
} from './api';

export interface ISidebarActions {
  openTemplate(name: string): Promise<void>;
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

function templateDetails(template: TemplateSummary): string[] {
  const variables = template.variables.length
    ? template.variables.join(', ')
    : 'no variables';
  return [
    `v${template.version} · ${template.model ?? 'default model'}`,
    variables
  ];
}

function experimentDetails(experiment: ExperimentSummary): string[] {
  const cost =
    experiment.cost === null ? '' : ` · $${experiment.cost.toFixed(4)}`;
  const repeats =
    experiment.repeats > 1 ? ` × ${experiment.repeats} repeats` : '';
  return [
    `${experiment.status} · ${experiment.variants} variants × ${experiment.rows} rows${repeats}${cost}`,
    experiment.best_variant ? `best: ${experiment.best_variant}` : ''
  ];
}

/** The "Prompt Lab" side panel: templates and experiments of the server's store. */
export class PromptLabSidebar extends Widget {
  private readonly templates = element(
    'ul',
    'pl-Sidebar-list pl-Sidebar-templates'
  );
  private readonly experiments = element(
    'ul',
    'pl-Sidebar-list pl-Sidebar-experiments'
  );
  private readonly status = element('div', 'pl-Sidebar-status');
  private loading = false;
  private reloadAfterwards = false;

  constructor(private readonly actions: ISidebarActions) {
    super();
    this.id = 'promptlab-sidebar';
    this.addClass('pl-Sidebar');
    const refresh = element('button', 'pl-Sidebar-refresh', 'Refresh');
    refresh.title = 'Reload templates and experiments from the store';
    refresh.addEventListener('click', () => void this.refresh());
    this.node.append(
      element('h2', 'pl-Sidebar-title', 'Prompt Lab'),
      refresh,
      this.status,
      element('h3', 'pl-Sidebar-heading', 'Templates'),
      this.templates,
      element('h3', 'pl-Sidebar-heading', 'Experiments'),
      this.experiments
    );
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
    const [templates, experiments] = await Promise.allSettled([
      listTemplates(),
      listExperiments()
    ]);
    if (templates.status === 'fulfilled') {
      this.showTemplates(templates.value);
    }
    if (experiments.status === 'fulfilled') {
      this.showExperiments(experiments.value);
    }
    this.status.textContent = [templates, experiments]
      .filter(result => result.status === 'rejected')
      .map(
        result =>
          `Could not load the store: ${(result as PromiseRejectedResult).reason.message}`
      )
      .join('\n');
  }

  private showTemplates(templates: TemplateSummary[]): void {
    this.templates.replaceChildren(
      ...templates.map(template =>
        entry(template.name, templateDetails(template), () =>
          this.open(() => this.actions.openTemplate(template.name))
        )
      )
    );
    if (!templates.length) {
      this.templates.append(
        element(
          'li',
          'pl-Sidebar-empty',
          'No templates yet: run a %%prompt cell.'
        )
      );
    }
  }

  private showExperiments(experiments: ExperimentSummary[]): void {
    this.experiments.replaceChildren(
      ...experiments.map(experiment =>
        entry(experiment.name, experimentDetails(experiment), () =>
          this.open(() => this.actions.openExperiment(experiment.name))
        )
      )
    );
    if (!experiments.length) {
      this.experiments.append(
        element(
          'li',
          'pl-Sidebar-empty',
          'No experiments yet: run %prompt compare.'
        )
      );
    }
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

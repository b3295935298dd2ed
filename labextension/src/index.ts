import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry
} from '@jupyterlab/codemirror';
import {
  INotebookTracker,
  NotebookActions,
  NotebookPanel
} from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { getPipeline, getTemplate } from './api';
import {
  experimentCellSource,
  pipelineCellSource,
  promptCellSource
} from './cells';
import { cellMagicLanguages } from './highlighting';
import { PromptLabSidebar } from './sidebar';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" d="M9 2h6v2h-1v5.2l5.6 9.7A2 2 0 0 1 17.9 22H6.1a2 2 0 0 1-1.7-3.1L10 9.2V4H9z"/></svg>';

const labIcon = new LabIcon({ name: 'promptlab-nb:flask', svgstr: ICON_SVG });

const cellLanguages: JupyterFrontEndPlugin<void> = {
  id: 'promptlab-nb:cell-languages',
  description:
    'Highlights %%prompt cells as Jinja prompts and %%pipeline cells as YAML.',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (_app: JupyterFrontEnd, extensions: IEditorExtensionRegistry) => {
    extensions.addExtension({
      name: 'promptlab-nb:cell-languages',
      factory: ({ model }) =>
        EditorExtensionRegistry.createImmutableExtension(
          cellMagicLanguages(
            () => model.mimeType,
            model.sharedModel.getSource()
          )
        )
    });
  }
};

/** Inserts a cell below the active one and gives it the keyboard focus, so Shift+Enter runs it. */
function insertCellBelow(
  shell: ILabShell,
  tracker: INotebookTracker,
  source: string
): void {
  const panel: NotebookPanel | null = tracker.currentWidget;
  if (!panel) {
    throw new Error('open a notebook to insert the cell into.');
  }
  NotebookActions.insertBelow(panel.content);
  const cell = panel.content.activeCell;
  cell?.model.sharedModel.setSource(source);
  shell.activateById(panel.id);
  panel.content.mode = 'edit';
  cell?.editor?.focus();
}

function followActiveNotebook(
  tracker: INotebookTracker,
  panel: PromptLabSidebar
): void {
  const follow = () =>
    panel.followNotebook(tracker.currentWidget?.context.path ?? null);
  tracker.currentChanged.connect(follow);
  follow();
}

const sidebar: JupyterFrontEndPlugin<void> = {
  id: 'promptlab-nb:sidebar',
  description:
    'A side panel listing the templates, pipelines and experiments of the active notebook’s store.',
  autoStart: true,
  requires: [ILabShell, INotebookTracker],
  activate: (
    _app: JupyterFrontEnd,
    shell: ILabShell,
    tracker: INotebookTracker
  ) => {
    const panel = new PromptLabSidebar({
      openTemplate: async (name, store) => {
        const template = await getTemplate(name, store);
        insertCellBelow(shell, tracker, promptCellSource(template));
      },
      openPipeline: async (name, store) => {
        const pipeline = await getPipeline(name, store);
        insertCellBelow(shell, tracker, pipelineCellSource(pipeline));
      },
      openExperiment: name =>
        insertCellBelow(shell, tracker, experimentCellSource(name))
    });
    panel.title.icon = labIcon;
    panel.title.caption = 'Prompt Lab';
    shell.add(panel, 'left', { rank: 600 });
    NotebookActions.executed.connect(() => panel.cellExecuted());
    followActiveNotebook(tracker, panel);
  }
};

export default [cellLanguages, sidebar];

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
  cellLanguage,
  experimentCellSource,
  ITemplateSource,
  promptCellSource
} from '../src/cells';

const IPYTHON = 'text/x-ipython';

describe('cellLanguage', () => {
  it('reads a %%prompt cell of an IPython kernel as a prompt', () => {
    assert.equal(
      cellLanguage(
        '%%prompt summarize --model mock:echo\nuser:\n{{ text }}',
        IPYTHON
      ),
      'prompt'
    );
  });

  it('reads a %%pipeline cell as a pipeline, also after blank lines', () => {
    assert.equal(
      cellLanguage('\n  \n%%pipeline digest\n- template: a', IPYTHON),
      'pipeline'
    );
    assert.equal(cellLanguage('%%pipeline', 'text/x-python'), 'pipeline');
  });

  it('leaves other cells to the kernel language', () => {
    for (const source of [
      'print(1)',
      '%%promptly x',
      '# %%prompt x',
      'x = 1\n%%prompt y',
      '%prompt list',
      ''
    ]) {
      assert.equal(cellLanguage(source, IPYTHON), null, source);
    }
  });

  it('never claims a cell of a kernel without IPython magics', () => {
    for (const mimeType of ['text/x-rsrc', 'text/x-julia', 'text/plain']) {
      assert.equal(
        cellLanguage('%%prompt summarize\n{{ text }}', mimeType),
        null,
        mimeType
      );
    }
  });
});

describe('cell sources inserted from the sidebar', () => {
  it('writes a template as a %%prompt cell with its model, params and description', () => {
    const template = {
      name: 'summarize',
      body: 'user:\n{{ text }}\n',
      model: 'mock:echo',
      params: { temperature: 0.2, response_format: 'json', stop: ["it's"] },
      description: "Bob's summary"
    };
    assert.equal(
      promptCellSource(template),
      `%%prompt summarize --model mock:echo -p temperature=0.2 -p 'response_format="json"' ` +
        `-p 'stop=["it'"'"'s"]' --description 'Bob'"'"'s summary'\nuser:\n{{ text }}\n`
    );
  });

  it('writes a template without settings as a bare %%prompt cell', () => {
    const template = {
      name: 'plain',
      body: 'Hi {{ name }}\n',
      model: null,
      params: {},
      description: null
    };
    assert.equal(promptCellSource(template), '%%prompt plain\nHi {{ name }}\n');
  });

  it('writes an experiment as a cell that displays it', () => {
    assert.equal(
      experimentCellSource('capitals'),
      'import promptlab_nb as pl\npl.current_lab().experiment("capitals")'
    );
  });
});

const PYTHON = path.resolve(__dirname, '../../../../.venv/bin/python');

/**
 * Saves each template in a fresh store, runs the cell the sidebar writes for it in an IPython shell with
 * the extension loaded, and returns each template as stored afterwards.
 */
const ROUND_TRIP = `
import json, sys, tempfile
from pathlib import Path
from IPython.testing import globalipapp

globalipapp.start_ipython()
shell = globalipapp.get_ipython()
shell.run_line_magic("load_ext", "promptlab_nb")
store = Path(tempfile.mkdtemp()) / "round-trip.duckdb"
shell.run_line_magic("config", f'PromptLab.db_url = "duckdb:///{store}"')
import promptlab_nb as pl

cases = json.loads(Path(sys.argv[1]).read_text())
stored = []
for case in cases:
    pl.current_lab().templates.save(**case["template"])
    shell.run_cell(case["cell"]).raise_error()
    template = pl.current_lab().templates.get(case["template"]["name"])
    stored.append(template.model_dump(mode="json", include={"name", "version", "body", "model", "params", "description"}))
Path(sys.argv[2]).write_text(json.dumps(stored))
`;

function storedAfterRunning(templates: ITemplateSource[]): unknown[] {
  const folder = mkdtempSync(path.join(tmpdir(), 'promptlab-cells-'));
  const cases = path.join(folder, 'cases.json');
  const stored = path.join(folder, 'stored.json');
  const cells = templates.map(template => ({
    template,
    cell: promptCellSource(template)
  }));
  writeFileSync(cases, JSON.stringify(cells));
  execFileSync(PYTHON, ['-c', ROUND_TRIP, cases, stored], {
    stdio: ['ignore', 'ignore', 'inherit']
  });
  return JSON.parse(readFileSync(stored, 'utf8'));
}

describe('a template cell from the sidebar, run in a kernel', () => {
  it(
    'leaves the stored template unchanged, whatever its description, params and body',
    {
      skip: !existsSync(PYTHON) && 'needs the project virtualenv (.venv)'
    },
    () => {
      // Given templates that a %%prompt cell can and cannot carry
      const templates: ITemplateSource[] = [
        {
          name: 'quoted',
          body: 'user:\n{{ text }}\n',
          model: 'mock:echo',
          params: { temperature: 0.2, stop: ["it's"], response_format: 'json' },
          description: "Bob's summary"
        },
        {
          name: 'multiline',
          body: 'Summarize {{ text }}\n',
          model: null,
          params: {},
          description: 'First line\nsecond line'
        },
        {
          name: 'dashed',
          body: 'Summarize {{ text }}',
          model: 'mock:echo',
          params: { 'top-k': 5, seed: null, nested: { on: true } },
          description: '-- draft'
        },
        {
          name: 'from_python',
          body: 'Translate {{ text }}',
          model: null,
          params: {},
          description: null
        }
      ];

      // When the sidebar's cell for each is run after the template was saved
      const stored = storedAfterRunning(templates);

      // Then each is still version 1 with the same body and settings
      assert.deepEqual(
        stored,
        templates.map(template => ({ ...template, version: 1 }))
      );
    }
  );

  it('uses a %%prompt cell when the line can hold every setting, else a Python cell', () => {
    const template = {
      name: 'dashed',
      body: 'Hi',
      model: null,
      params: { 'top-k': 5 },
      description: null
    };
    assert.equal(
      promptCellSource(template),
      'import promptlab_nb as pl\n\npl.current_lab().templates.save(\n    "dashed",\n    "Hi",\n' +
        '    model=None,\n    params={"top-k": 5},\n    description=None,\n)'
    );
  });
});

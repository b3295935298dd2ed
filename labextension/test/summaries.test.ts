import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { IPipelineSource, pipelineCellSource } from '../src/cells';
import {
  experimentDetails,
  pipelineDetails,
  storeBesideNotebook,
  templateDetails
} from '../src/summaries';

const EXPERIMENT = {
  status: 'done',
  variants: 1,
  rows: 1,
  repeats: 1,
  cost: null,
  best_variant: null,
  tied_variants: []
};

describe('an experiment in the sidebar', () => {
  it('counts one variant and one row in the singular', () => {
    assert.deepEqual(experimentDetails(EXPERIMENT), [
      'done · 1 variant × 1 row',
      ''
    ]);
  });

  it('counts several in the plural', () => {
    assert.equal(
      experimentDetails({ ...EXPERIMENT, variants: 2, rows: 3, repeats: 2 })[0],
      'done · 2 variants × 3 rows × 2 repeats'
    );
  });

  it('says tie when variants tie, and best when one wins', () => {
    const tied = { ...EXPERIMENT, tied_variants: ['route@1', 'route@2'] };
    assert.equal(experimentDetails(tied)[1], 'tie: route@1, route@2');
    const won = { ...EXPERIMENT, best_variant: 'route@2' };
    assert.equal(experimentDetails(won)[1], 'best: route@2');
  });
});

describe('a template or pipeline in the sidebar', () => {
  const TEMPLATE = { version: 3, model: 'mock:echo', variables: ['text'] };

  it('lists each label with the version it points at', () => {
    // Given a template whose labels point at two versions
    const labels = { production: 2, staging: 3 };
    // When the sidebar describes it
    const details = templateDetails({ ...TEMPLATE, labels });
    // Then a line names each label and its version
    assert.deepEqual(details, [
      'v3 · mock:echo',
      'production → v2 · staging → v3',
      'text'
    ]);
  });

  it('has no labels line without labels', () => {
    const pipeline = { version: 1, steps: ['a', 'b'], inputs: [], labels: {} };
    assert.deepEqual(pipelineDetails(pipeline), [
      'v1 · 2 steps: a → b',
      '',
      'no inputs'
    ]);
  });
});

describe('the store of a notebook', () => {
  it('is promptlab.duckdb in the notebook’s folder', () => {
    assert.equal(
      storeBesideNotebook('notebooks/lab.ipynb'),
      'notebooks/promptlab.duckdb'
    );
    assert.equal(storeBesideNotebook('lab.ipynb'), 'promptlab.duckdb');
  });
});

const PYTHON = path.resolve(__dirname, '../../../../.venv/bin/python');

/** Saves the pipelines of argv[1] in a fresh store and writes them as the API answers (argv[2]); with a
 * third argument, runs those cells in IPython afterwards and writes each pipeline's version (argv[3]). */
const PIPELINES = `
import json, sys, tempfile
from pathlib import Path
from IPython.testing import globalipapp
from promptlab_nb.schemas.api import PipelineResponse

globalipapp.start_ipython()
shell = globalipapp.get_ipython()
shell.run_line_magic("load_ext", "promptlab_nb")
store = Path(tempfile.mkdtemp()) / "pipelines.duckdb"
shell.run_line_magic("config", f'PromptLab.db_url = "duckdb:///{store}"')
import promptlab_nb as pl

lab = pl.current_lab()
lab.templates.save("extract", "Facts in {{ text }}")
lab.templates.save("write", "Write about {{ facts }}")
cases = json.loads(Path(sys.argv[1]).read_text())
for case in cases:
    lab.pipelines.save(**case)
answers = [PipelineResponse.of(lab.pipelines.get(case["name"])).model_dump(mode="json") for case in cases]
Path(sys.argv[2]).write_text(json.dumps(answers))
if len(sys.argv) > 3:
    for cell in json.loads(Path(sys.argv[3]).read_text()):
        shell.run_cell(cell).raise_error()
    Path(sys.argv[4]).write_text(json.dumps([lab.pipelines.get(case["name"]).version for case in cases]))
`;

describe('a pipeline cell from the sidebar, run in a kernel', () => {
  it(
    'saves the pipeline unchanged',
    { skip: !existsSync(PYTHON) && 'needs the project virtualenv (.venv)' },
    () => {
      // Given pipelines saved with pinned versions, params, parsing and a description
      const folder = mkdtempSync(path.join(tmpdir(), 'promptlab-pipelines-'));
      const file = (name: string) => path.join(folder, name);
      writeFileSync(
        file('cases.json'),
        JSON.stringify([
          {
            name: 'digest',
            steps: [
              { template: 'extract', output: 'facts', parse: 'json' },
              { template: 'write', version: 1, params: { temperature: 0.5 } }
            ]
          },
          {
            name: 'described',
            steps: [{ template: 'extract', model: 'mock:echo' }],
            description: 'Facts: yes, no'
          }
        ])
      );
      execFileSync(
        PYTHON,
        ['-c', PIPELINES, file('cases.json'), file('api.json')],
        {
          stdio: ['ignore', 'ignore', 'inherit']
        }
      );
      const answers: IPipelineSource[] = JSON.parse(
        readFileSync(file('api.json'), 'utf8')
      );

      // When the sidebar's cell for each is run in a kernel holding the same pipelines
      writeFileSync(
        file('cells.json'),
        JSON.stringify(answers.map(pipelineCellSource))
      );
      execFileSync(
        PYTHON,
        [
          '-c',
          PIPELINES,
          file('cases.json'),
          file('api.json'),
          file('cells.json'),
          file('versions.json')
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] }
      );

      // Then each pipeline is still version 1
      assert.deepEqual(
        JSON.parse(readFileSync(file('versions.json'), 'utf8')),
        [1, 1]
      );
    }
  );

  it('is a %%pipeline cell with the steps as YAML', () => {
    assert.equal(
      pipelineCellSource({
        name: 'digest',
        steps: [
          { template: 'extract', version: null, params: {}, output: 'facts' },
          { template: 'write', model: 'mock:echo' }
        ],
        description: null
      }),
      '%%pipeline digest\n- template: extract\n  output: facts\n- template: write\n  model: mock:echo\n'
    );
  });
});

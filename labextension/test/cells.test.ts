import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  cellLanguage,
  experimentCellSource,
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
      body: 'user:\n{{ text }}',
      model: 'mock:echo',
      params: { temperature: 0.2, response_format: 'json', stop: ["it's"] },
      description: "Bob's summary"
    };
    assert.equal(
      promptCellSource(template),
      `%%prompt summarize --model mock:echo -p temperature=0.2 -p 'response_format="json"' ` +
        `-p 'stop=["it'"'"'s"]' --description 'Bob'"'"'s summary'\nuser:\n{{ text }}`
    );
  });

  it('writes a template without settings as a bare %%prompt cell', () => {
    const template = {
      name: 'plain',
      body: 'Hi {{ name }}',
      model: null,
      params: {},
      description: null
    };
    assert.equal(promptCellSource(template), '%%prompt plain\nHi {{ name }}');
  });

  it('writes an experiment as a cell that displays it', () => {
    assert.equal(
      experimentCellSource('capitals'),
      'import promptlab_nb as pl\npl.lab().experiment("capitals")'
    );
  });
});

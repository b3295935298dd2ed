import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ensureSyntaxTree } from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { classHighlighter, Highlighter, highlightTree } from '@lezer/highlight';

import { cellMagicLanguages, promptlabHighlighter } from '../src/highlighting';

/** Each piece of text that gets a promptlab class, as "class:text". */
function highlighted(
  source: string,
  kernelMimeType = 'text/x-ipython',
  highlighter: Highlighter = promptlabHighlighter
): string[] {
  const state = EditorState.create({
    doc: source,
    extensions: [cellMagicLanguages(() => kernelMimeType, source)]
  });
  const tree = ensureSyntaxTree(state, state.doc.length, 5000);
  const pieces: string[] = [];
  if (tree) {
    highlightTree(tree, highlighter, (from, to, classes) =>
      pieces.push(`${classes}:${state.doc.sliceString(from, to)}`)
    );
  }
  return pieces;
}

describe('prompt cell highlighting', () => {
  it('marks the magic line, role lines and Jinja tags', () => {
    assert.deepEqual(
      highlighted(
        '%%prompt s\nsystem:\nBe brief.\nUSER :\nHi {{ name }}{# note #}{% if x %}!{% endif %}'
      ),
      [
        'pl-magic:%%prompt s',
        'pl-role:system:',
        'pl-role:USER :',
        'pl-jinja-expression:{{ name }}',
        'pl-jinja-comment:{# note #}',
        'pl-jinja-statement:{% if x %}',
        'pl-jinja-statement:{% endif %}'
      ]
    );
  });

  it('finds the magic line after blank lines', () => {
    assert.deepEqual(highlighted('\n  \n%%prompt s\n{{ x }}'), [
      'pl-magic:%%prompt s',
      'pl-jinja-expression:{{ x }}'
    ]);
  });

  it('follows a Jinja tag over several lines and leaves role words inside text alone', () => {
    assert.deepEqual(
      highlighted('%%prompt s\nThe user: said {%\n  for x in xs\n%} ok'),
      [
        'pl-magic:%%prompt s',
        'pl-jinja-statement:{%',
        'pl-jinja-statement:  for x in xs',
        'pl-jinja-statement:%}'
      ]
    );
  });

  it('gives a %%pipeline cell its magic line and YAML below', () => {
    const source = '%%pipeline digest\n- template: extract\n  output: facts';
    assert.deepEqual(highlighted(source), ['pl-magic:%%pipeline digest']);
    const yamlKeys = highlighted(
      source,
      'text/x-ipython',
      classHighlighter
    ).filter(piece => /^tok-atom:\s*(template|output)$/.test(piece));
    assert.equal(yamlKeys.length, 2, `YAML keys are highlighted: ${yamlKeys}`);
  });

  it('leaves cells of other kernels and ordinary cells without prompt highlighting', () => {
    assert.deepEqual(highlighted('%%prompt s\n{{ name }}', 'text/x-rsrc'), []);
    assert.deepEqual(highlighted('x = "{{ name }}"'), []);
  });
});

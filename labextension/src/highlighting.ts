import {
  StreamLanguage,
  StreamParser,
  StringStream,
  syntaxHighlighting
} from '@codemirror/language';
import { yaml } from '@codemirror/legacy-modes/mode/yaml';
import { Compartment, EditorState, Extension, Prec } from '@codemirror/state';
import { Tag, tagHighlighter, tags } from '@lezer/highlight';

import { CellLanguage, cellLanguage } from './cells';

const promptTags = {
  magic: Tag.define(tags.processingInstruction),
  role: Tag.define(tags.heading),
  expression: Tag.define(tags.variableName),
  statement: Tag.define(tags.controlKeyword),
  comment: Tag.define(tags.blockComment)
};

type JinjaTag = 'expression' | 'statement' | 'comment';

const JINJA_OPENERS: Record<string, JinjaTag> = {
  '{{': 'expression',
  '{%': 'statement',
  '{#': 'comment'
};

const JINJA_CLOSERS: Record<JinjaTag, string> = {
  expression: '}}',
  statement: '%}',
  comment: '#}'
};

const ROLE_LINE = /^[ \t]*(system|user|assistant)[ \t]*:[ \t]*$/i;

interface PromptState {
  insideTag: JinjaTag | null;
}

function finishJinjaTag(stream: StringStream, state: PromptState): JinjaTag {
  const tag = state.insideTag as JinjaTag;
  const closer = JINJA_CLOSERS[tag];
  if (stream.skipTo(closer)) {
    stream.pos += closer.length;
    state.insideTag = null;
  } else {
    stream.skipToEnd();
  }
  return tag;
}

const promptBody: StreamParser<PromptState> = {
  name: 'promptlab-prompt',
  startState: () => ({ insideTag: null }),
  token(stream, state) {
    if (state.insideTag) {
      return finishJinjaTag(stream, state);
    }
    if (stream.sol() && stream.match(ROLE_LINE)) {
      return 'role';
    }
    const opener = stream.match(/^\{[{%#]/) as RegExpMatchArray | null;
    if (opener) {
      state.insideTag = JINJA_OPENERS[opener[0]];
      return finishJinjaTag(stream, state);
    }
    stream.next();
    stream.eatWhile(/[^{]/);
    return null;
  },
  tokenTable: promptTags
};

interface HeaderState<Inner> {
  header: boolean;
  inner: Inner;
}

function copyOf<S>(parser: StreamParser<S>, state: S): S {
  if (parser.copyState) {
    return parser.copyState(state);
  }
  return typeof state === 'object' && state !== null
    ? ({ ...state } as S)
    : state;
}

/** A parser whose first non-blank line is the `%%magic` header and the rest `body`. */
function afterMagicHeader<S>(
  body: StreamParser<S>
): StreamParser<HeaderState<S>> {
  return {
    name: body.name,
    startState: indentUnit => ({
      header: true,
      inner: body.startState ? body.startState(indentUnit) : (true as S)
    }),
    copyState: state => ({
      header: state.header,
      inner: copyOf(body, state.inner)
    }),
    token(stream, state) {
      if (state.header && stream.match(/^\s+$/)) {
        return null;
      }
      if (state.header) {
        stream.skipToEnd();
        state.header = false;
        return 'magic';
      }
      return body.token(stream, state.inner);
    },
    blankLine: (state, indentUnit) => body.blankLine?.(state.inner, indentUnit),
    indent: (state, textAfter, context) =>
      body.indent ? body.indent(state.inner, textAfter, context) : null,
    languageData: body.languageData,
    tokenTable: { ...body.tokenTable, magic: promptTags.magic }
  };
}

const CELL_LANGUAGES: Record<CellLanguage, StreamLanguage<unknown>> = {
  prompt: StreamLanguage.define(afterMagicHeader(promptBody)),
  pipeline: StreamLanguage.define(afterMagicHeader(yaml))
};

export const promptlabHighlighter = tagHighlighter([
  { tag: promptTags.magic, class: 'pl-magic' },
  { tag: promptTags.role, class: 'pl-role' },
  { tag: promptTags.expression, class: 'pl-jinja-expression' },
  { tag: promptTags.statement, class: 'pl-jinja-statement' },
  { tag: promptTags.comment, class: 'pl-jinja-comment' }
]);

const HEADER_SEARCH_LENGTH = 2000;

const LANGUAGE_OVERRIDES: Record<CellLanguage | 'kernel', Extension> = {
  prompt: Prec.highest(CELL_LANGUAGES.prompt),
  pipeline: Prec.highest(CELL_LANGUAGES.pipeline),
  kernel: []
};

/**
 * Gives `%%prompt` and `%%pipeline` cells their own language while the kernel (read from
 * `kernelMimeType`, whose changes reconfigure the editor) speaks IPython; other cells keep the kernel's language.
 */
export function cellMagicLanguages(
  kernelMimeType: () => string,
  initialSource: string
): Extension {
  const override = new Compartment();
  const overrideFor = (cellStart: string) =>
    LANGUAGE_OVERRIDES[cellLanguage(cellStart, kernelMimeType()) ?? 'kernel'];
  const followCellContent = EditorState.transactionExtender.of(transaction => {
    const wanted = overrideFor(
      transaction.newDoc.sliceString(0, HEADER_SEARCH_LENGTH)
    );
    return override.get(transaction.startState) === wanted
      ? null
      : { effects: override.reconfigure(wanted) };
  });
  return [
    override.of(overrideFor(initialSource.slice(0, HEADER_SEARCH_LENGTH))),
    followCellContent,
    syntaxHighlighting(promptlabHighlighter)
  ];
}

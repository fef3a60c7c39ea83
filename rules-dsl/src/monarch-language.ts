/**
 * Syntax highlighting for the Monaco editor.
 *
 * @module
 */

import { keywords, wordOperators } from './keywords.js'

/** Monaco language id for the rules DSL. */
export const languageId = 'leadrules'

/**
 * A Monarch token grammar (the object passed to
 * `monaco.languages.setMonarchTokensProvider('leadrules', monarchLanguage)`).
 * Plain data: it does not import Monaco.
 *
 * Token classes: `keyword`, `keyword.operator` (word operators), `operator`,
 * `type` (dimensions and `total`), `variable` (fact paths), `identifier`,
 * `string`, `string.escape`, `string.invalid`, `regexp`, `number`,
 * `number.duration`, `number.percent`, `comment`, `delimiter`, `invalid`.
 *
 * @example
 * ```ts
 * monaco.languages.register({ id: languageId })
 * monaco.languages.setMonarchTokensProvider(languageId, monarchLanguage)
 * monaco.languages.setLanguageConfiguration(languageId, languageConfiguration)
 * ```
 */
export const monarchLanguage = {
  defaultToken: 'invalid',
  tokenPostfix: '.leadrules',
  keywords: keywords.filter((k) => !wordOperators.includes(k)),
  wordOperators: [...wordOperators],
  dimensions: ['engagement', 'fit', 'intent', 'total'],
  operators: ['==', '!=', '<=', '>=', '<', '>'],
  symbols: /[=><!&|]+/,
  escapes: /\\(?:["\\/nrt]|u[0-9A-Fa-f]{4}|u\{[0-9A-Fa-f]{1,6}\})/,
  tokenizer: {
    root: [
      [/#.*$/, 'comment'],
      [/x\d+(?:\.\d+)?\b/, 'keyword'],
      [/[A-Za-z_$][\w$-]*(?:\.[\w$-]+)+/, 'variable'],
      [/matches\b/, { token: 'keyword.operator', next: '@afterMatches' }],
      [/"/, { token: 'string.quote', bracket: '@open', next: '@string' }],
      [/\d+(?:\.\d+)?%/, 'number.percent'],
      [/\d+[mhdw]\b/, 'number.duration'],
      [/\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b/, 'number'],
      [
        /[A-Za-z_$][\w$-]*/,
        {
          cases: {
            '@wordOperators': 'keyword.operator',
            '@dimensions': 'type',
            '@keywords': 'keyword',
            '@default': 'identifier',
          },
        },
      ],
      [/[()[\]]/, '@brackets'],
      [/[,%]/, 'delimiter'],
      [/[+-]/, 'operator'],
      [/@symbols/, { cases: { '@operators': 'operator', '@default': 'invalid' } }],
      [/[ \t\r\n]+/, 'white'],
    ],
    afterMatches: [
      [/[ \t]+/, 'white'],
      [/\//, { token: 'regexp', bracket: '@open', next: '@regexp' }],
      [/./, { token: '@rematch', next: '@pop' }],
    ],
    regexp: [
      [/\\./, 'regexp.escape'],
      [/\[(?:\\.|[^\]\\])*\]/, 'regexp'],
      [/\/[A-Za-z]*/, { token: 'regexp', bracket: '@close', next: '@popall' }],
      [/[^\\/[]+$/, { token: 'regexp.invalid', next: '@popall' }],
      [/[^\\/[]+/, 'regexp'],
      [/\[/, 'regexp'],
    ],
    string: [
      [/[^\\"]+$/, { token: 'string.invalid', next: '@pop' }],
      [/[^\\"]+/, 'string'],
      [/@escapes/, 'string.escape'],
      [/\\./, 'string.escape.invalid'],
      [/"/, { token: 'string.quote', bracket: '@close', next: '@pop' }],
    ],
  },
}

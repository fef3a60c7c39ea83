/**
 * Editor behaviour (comments, brackets, auto-closing) for Monaco.
 *
 * @module
 */

/**
 * A Monaco `LanguageConfiguration` for the rules DSL, as plain data. Pass it
 * to `monaco.languages.setLanguageConfiguration('leadrules', languageConfiguration)`.
 */
export const languageConfiguration = {
  comments: { lineComment: '#' },
  brackets: [
    ['(', ')'],
    ['[', ']'],
  ] as [string, string][],
  autoClosingPairs: [
    { open: '(', close: ')' },
    { open: '[', close: ']' },
    { open: '"', close: '"', notIn: ['string', 'comment'] },
  ],
  surroundingPairs: [
    { open: '(', close: ')' },
    { open: '[', close: ']' },
    { open: '"', close: '"' },
  ],
  /** Fact paths such as `event.properties.path` count as one word. */
  wordPattern: /[A-Za-z_$][\w$-]*(?:\.[\w$-]+)*|-?\d+(?:\.\d+)?[mhdw%]?/,
  indentationRules: {
    increaseIndentPattern: /^\s*rule\b.*$/,
    decreaseIndentPattern: /^\s*(?:rule|cap|floor|decay|stage|grade|intent\s+label|event\s+type|known\s+events)\b/,
  },
}

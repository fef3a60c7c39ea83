// Monaco, loaded on demand: the editor core, the few editor features the rules editor uses (monaco-features.ts), one
// web worker, and the `leadrules` language from @leadscore/rules-dsl. Nothing of it is in the first page's bundle.
import type * as Monaco from 'monaco-editor/editor/editor.api'
import { completionItems, languageConfiguration, languageId, monarchLanguage, type CompletionItem, type CompletionKind, type FactCatalog, type PropertyHint } from '@leadscore/rules-dsl'

export type MonacoApi = typeof Monaco
export { languageId }

let loading: Promise<MonacoApi> | undefined

/** Loads Monaco once (later calls share the promise; a failed load is retried on the next call). */
export function loadMonaco (): Promise<MonacoApi> {
  loading ??= (async () => {
    const [monaco, { default: EditorWorker }] = await Promise.all([
      import('monaco-editor/editor/editor.api'),
      import('monaco-editor/editor/editor.worker?worker'),
      import('./monaco-features.js'),
    ])
    // the only worker: the editor's own (word-based helpers); no language-service workers are built or started
    self.MonacoEnvironment = { getWorker: () => new EditorWorker() }
    registerLeadRules(monaco)
    return monaco
  })().catch((err: unknown) => {
    loading = undefined
    throw err
  })
  return loading
}

let items: CompletionItem[] = completionItems({}, [])

/**
 * The facts and event types offered as completions (from `GET /v1/rulesets/catalog`), and the event properties the
 * tracking plan declares (`GET /v1/tracking-plan`), offered as `event.properties.<name>`.
 */
export function setCompletionSource (catalog: FactCatalog, eventTypes: string[], properties: readonly PropertyHint[] = []): void {
  items = completionItems(catalog, eventTypes, properties)
}

export const themeName = (dark: boolean): string => dark ? 'leadrules-dark' : 'leadrules-light'

function registerLeadRules (monaco: MonacoApi): void {
  const { languages } = monaco
  languages.register({ id: languageId, aliases: ['Leadscore rules'] })
  languages.setMonarchTokensProvider(languageId, monarchLanguage as unknown as Monaco.languages.IMonarchLanguage)
  languages.setLanguageConfiguration(languageId, languageConfiguration)

  const K = languages.CompletionItemKind
  const kinds: Record<CompletionKind, Monaco.languages.CompletionItemKind> = {
    keyword: K.Keyword, fact: K.Field, operator: K.Operator, eventType: K.EnumMember, snippet: K.Snippet,
  }
  languages.registerCompletionItemProvider(languageId, {
    triggerCharacters: ['.'],
    provideCompletionItems (model, position) {
      const word = model.getWordUntilPosition(position)
      const range = { startLineNumber: position.lineNumber, endLineNumber: position.lineNumber, startColumn: word.startColumn, endColumn: word.endColumn }
      return {
        suggestions: items.map((it, i) => ({
          label: it.label,
          kind: kinds[it.kind],
          insertText: it.insertText,
          ...(it.kind === 'snippet' ? { insertTextRules: languages.CompletionItemInsertTextRule.InsertAsSnippet } : {}),
          ...(it.detail !== undefined ? { detail: it.detail } : {}),
          ...(it.documentation !== undefined ? { documentation: { value: it.documentation } } : {}),
          // the library's order (snippets, keywords, operators, facts, event types) within equal matches
          sortText: String(i).padStart(4, '0'),
          range,
        })),
      }
    },
  })

  // token colours close to the console's palette; everything else from Monaco's light and dark themes
  const rules = (dark: boolean): Monaco.editor.ITokenThemeRule[] => [
    { token: 'keyword', foreground: dark ? 'a5a0ff' : '4f46e5', fontStyle: 'bold' },
    { token: 'keyword.operator', foreground: dark ? 'a5a0ff' : '4f46e5' },
    { token: 'type', foreground: dark ? '5fd4c4' : '0e7490' },
    { token: 'variable', foreground: dark ? 'ffc46b' : '9a5b00' },
    { token: 'number', foreground: dark ? '5fd49a' : '067647' },
    { token: 'regexp', foreground: dark ? 'ff8a80' : 'b42318' },
    { token: 'comment', foreground: dark ? '9aa3b2' : '5d6677', fontStyle: 'italic' },
  ]
  monaco.editor.defineTheme(themeName(false), { base: 'vs', inherit: true, rules: rules(false), colors: {} })
  monaco.editor.defineTheme(themeName(true), { base: 'vs-dark', inherit: true, rules: rules(true), colors: { 'editor.background': '#171b24' } })
}

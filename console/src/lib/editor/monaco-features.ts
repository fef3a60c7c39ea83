// The editor features the rules editor uses, out of everything monaco-editor's full build registers: marker hovers,
// completions and snippets, find, go to next problem (F8), brackets, line comments (Ctrl+/), clipboard and context
// menu, word and line editing, the read-only message, and Ctrl+M to make Tab move focus (so keyboard users can leave
// the editor).
import 'monaco-editor/features/codicon/register'
import 'monaco-editor/editor/browser/coreCommands'
import 'monaco-editor/features/hover/register'
import 'monaco-editor/editor/contrib/suggest/browser/suggestController'
import 'monaco-editor/features/snippet/register'
import 'monaco-editor/features/find/register'
import 'monaco-editor/features/gotoError/register'
import 'monaco-editor/features/bracketMatching/register'
import 'monaco-editor/features/comment/register'
import 'monaco-editor/features/clipboard/register'
import 'monaco-editor/features/contextmenu/register'
import 'monaco-editor/features/cursorUndo/register'
import 'monaco-editor/features/wordOperations/register'
import 'monaco-editor/features/linesOperations/register'
import 'monaco-editor/features/readOnlyMessage/register'
import 'monaco-editor/features/toggleTabFocusMode/register'

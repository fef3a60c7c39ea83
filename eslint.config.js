// Lint and format in one run. The formatter is ESLint's stylistic rules set to the house style: Prettier cannot
// write a space before function parens and would rewrite every file, while these rules check the style we already have.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import stylistic from '@stylistic/eslint-plugin'
import { importX, createNodeResolver } from 'eslint-plugin-import-x'
import svelte from 'eslint-plugin-svelte'
import { builtinModules } from 'node:module'

// Import rules, one list per folder (a later entry replaces an earlier one for the same files). See
// docs/architecture.md, "Layers and import rules".
const restrict = (...patterns) => ['error', { patterns }]
// infra (database, HTTP plumbing) is the bottom layer; http/ adapts the domain's auth and live feed to Fastify
const infraBelow = () => ({
  group: ['**/domain/**', '**/http/**', '**/routes/**', '**/plugin-host/**', '**/jobs/**'],
  message: 'infra is below domain, http, routes, plugin-host and jobs: it never imports them.',
})
const serverInternals = {
  regex: '^@leadscore/server(?!/contracts$)',
  message: 'Plugins use the server only through @leadscore/server/contracts.',
}
const otherWorkspaces = { regex: '^@leadscore/(?!server(/|$))', message: 'Plugins never import other workspaces.' }
const outsidePlugin = { group: ['../../*', 'mongodb'], message: 'Plugins stay in their own folder and never touch the database.' }

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**', '**/dist/**', '**/build/**', 'console/.svelte-kit/**', 'test-artifacts/**', '.tools/**',
      '**/*.d.ts',
    ],
  },
  {
    files: ['**/*.{ts,mjs,js,svelte}'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly' },
    },
  },
  stylistic.configs.customize({ indent: 2, quotes: 'single', semi: false, jsx: false, braceStyle: '1tbs', commaDangle: 'always-multiline' }),
  {
    rules: {
      '@stylistic/space-before-function-paren': ['error', 'always'],
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/generator-star-spacing': ['error', 'both'],
      '@stylistic/yield-star-spacing': ['error', 'both'],
      // members end a line bare, or are split by `;` when several share a line: the rule can express only one
      '@stylistic/member-delimiter-style': 'off',
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      // tests quote operator keys such as '$ne' on purpose
      '@stylistic/quote-props': 'off',
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
      '@stylistic/lines-between-class-members': ['error', 'always', { exceptAfterSingleLine: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      '@stylistic/list-style': 'off',
      '@stylistic/max-statements-per-line': 'off',
      '@stylistic/multiline-ternary': 'off',
      '@stylistic/operator-linebreak': 'off',
    },
  },
  {
    // no import cycles in the runtime packages
    files: ['server/src/**/*.ts', 'rules-dsl/src/**/*.ts', 'plugins/*/src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'], extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['server/src/infra/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': restrict(infraBelow()) },
  },
  {
    // the collection map is typed with the documents the domain modules declare; type imports leave no runtime edge
    files: ['server/src/infra/db.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': restrict({ ...infraBelow(), allowTypeImports: true }) },
  },
  {
    // routes call domain services, never collections
    files: ['server/src/routes/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error',
        { selector: "MemberExpression[object.name='core'][property.name='c']", message: 'Routes call domain services, not collections.' },
        { selector: "VariableDeclarator[init.name='core'] > ObjectPattern > Property[key.name='c']", message: 'Routes call domain services, not collections.' },
        { selector: "MemberExpression[property.name='auditLog']", message: 'Audit through domain/audit.ts.' },
        { selector: "MemberExpression[object.property.name='mongo'][property.name='c']", message: 'Routes call domain services, not collections.' },
        { selector: "MemberExpression[object.property.name='database'][property.name='c']", message: 'Routes call domain services, not collections.' },
      ],
    },
  },
  {
    files: ['server/src/contracts/**/*.ts'],
    rules: {
      // the contracts are what plugins compile against: of the server they re-export only lib helpers
      '@typescript-eslint/no-restricted-imports': restrict({
        group: ['../*', '!../lib/', '!../lib/*'],
        message: 'contracts import nothing of the server but lib helpers.',
      }),
    },
  },
  {
    files: ['rules-dsl/src/**/*.ts'],
    rules: {
      // rules-dsl runs in the browser as well: no Node, no I/O, nothing outside itself
      '@typescript-eslint/no-restricted-imports': restrict(
        { regex: '^(?!\\./|json-rules-engine$)', message: 'rules-dsl imports only its own modules.' },
        { group: ['json-rules-engine'], allowTypeImports: true, message: 'rules-dsl uses json-rules-engine for its types only.' },
        { group: builtinModules.flatMap((m) => [m, `node:${m}`]), message: 'rules-dsl uses no Node built-ins.' },
      ),
    },
  },
  {
    files: ['plugins/*/src/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': restrict(serverInternals, otherWorkspaces, outsidePlugin) },
  },
  {
    files: ['plugins/*/test/**/*.ts', 'plugins/*/src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrict(
        { ...serverInternals, regex: '^@leadscore/server(?!/contracts$|/testing$)' }, otherWorkspaces, outsidePlugin,
      ),
    },
  },
  // the console's components: Svelte's own rules, and the TypeScript and style rules in their scripts
  ...svelte.configs.recommended,
  {
    files: ['console/src/**/*.svelte', 'console/src/**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
    rules: {
      // `let { a } = $props()` is how Svelte 5 declares props; svelte/prefer-const knows the runes
      'prefer-const': 'off',
      'svelte/prefer-const': 'error',
      // the console is served at the root of its origin, so its links need no base path
      'svelte/no-navigation-without-resolve': 'off',
    },
  },
  {
    files: ['console/src/**/*.{ts,svelte}'],
    rules: {
      // the console runs in the browser: of the server it takes the API types, erased at build
      '@typescript-eslint/no-restricted-imports': restrict(
        // (a type import matched by an allowTypeImports pattern passes every pattern, so this one names schemas only)
        { regex: '(^|/)server/src/schemas/', allowTypeImports: true, message: 'The console imports server code only as `import type`.' },
        { regex: '(^|/)server/src/(?!schemas/)', message: 'The console takes types from server/src/schemas only.' },
        { group: ['@leadscore/server', '@leadscore/server/*'], allowTypeImports: true, message: 'The console imports server code only as `import type`.' },
        { regex: '(^|/)plugins/|^@leadscore/(?!server|rules-dsl)', message: 'The console never imports plugins.' },
      ),
    },
  },
)

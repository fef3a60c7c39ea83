// The import rules of eslint.config.js (docs/architecture.md, "Layers and import rules") refuse what they are meant to
// and let the allowed forms through: each case lints a small module as if it were a file of that folder.
import { resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ESLint } from 'eslint'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const eslint = new ESLint({ cwd: root })

/** The rules a module breaks, as `line rule`, style rules left out. */
async function broken (filePath: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: resolve(root, filePath) })
  return (r?.messages ?? []).filter((m) => m.ruleId !== null && !m.ruleId.startsWith('@stylistic/')).map((m) => `${m.line} ${m.ruleId}`)
}

const RESTRICTED = '@typescript-eslint/no-restricted-imports'

t.test('rules-dsl imports its own modules, and json-rules-engine for types only', async (t) => {
  t.same(await broken('rules-dsl/src/probe.ts', [
    "import { readFileSync } from 'node:fs'",
    "import { Engine } from 'json-rules-engine'",
    "import { parse } from '../../server/src/lib/ids.js'",
    "import type { RuleProperties } from 'json-rules-engine'",
    "import { lex } from './lexer.js'",
    'export type R = RuleProperties',
    'export const all = [readFileSync, Engine, parse, lex]',
  ].join('\n')), [`1 ${RESTRICTED}`, `1 ${RESTRICTED}`, `2 ${RESTRICTED}`, `3 ${RESTRICTED}`])
})

t.test('plugins import the server through its contracts only (and its testing kit in their tests)', async (t) => {
  const imports = [
    "import { a } from '@leadscore/server'",
    "import { b } from '@leadscore/server/contracts'",
    "import { c } from '@leadscore/rules-dsl'",
    "import { d } from 'mongodb'",
    "import { e } from '@leadscore/server/testing'",
    "import { f } from '../../source-webhook/src/index.js'",
    "import { Type } from '@sinclair/typebox'",
    "import { createHash } from 'node:crypto'",
    'export const all = [a, b, c, d, e, f, Type, createHash]',
  ].join('\n')
  t.same(await broken('plugins/probe/src/index.ts', imports), [1, 3, 4, 5, 6].map((l) => `${l} ${RESTRICTED}`))
  t.same(await broken('plugins/probe/test/index.test.ts', imports), [1, 3, 4, 6].map((l) => `${l} ${RESTRICTED}`))
})

t.test('the console takes server types from the schemas, as type imports', async (t) => {
  t.same(await broken('console/src/lib/probe.ts', [
    "import { Lead } from '../../../server/src/schemas/common.js'",
    "import type { LeadT } from '../../../server/src/schemas/common.js'",
    "import type { LeadDoc } from '../../../server/src/domain/types.js'",
    "import { x } from '../../../plugins/source-webhook/src/index.js'",
    "import type { EventInput } from '@leadscore/server/contracts'",
    "import { defineSourcePlugin } from '@leadscore/server/contracts'",
    "import { compileSource } from '@leadscore/rules-dsl'",
    'export const all: [typeof Lead, LeadT, LeadDoc, typeof x, EventInput, typeof defineSourcePlugin, typeof compileSource] | null = null',
  ].join('\n')), [1, 3, 4, 6].map((l) => `${l} ${RESTRICTED}`))
})

t.test('a console component imports server code as types only, too', async (t) => {
  t.same(await broken('console/src/lib/probe.svelte', [
    '<script lang="ts">',
    "  import { Lead } from '../../../server/src/schemas/common.js'",
    "  import type { LeadT } from '../../../server/src/schemas/common.js'",
    '  let { lead }: { lead: LeadT } = $props()',
    '</script>',
    '<p>{lead.id}{Lead.$id}</p>',
  ].join('\n')), [`2 ${RESTRICTED}`])
})

t.test('infra imports no domain code; db.ts takes document types', async (t) => {
  const code = [
    "import { createCore } from '../domain/core.js'",
    "import type { LeadDoc } from '../domain/types.js'",
    "import { checkCsrf } from '../http/auth.js'",
    "import { newId } from '../lib/ids.js'",
    'export const all: [typeof createCore, LeadDoc | null, typeof checkCsrf, typeof newId] = [createCore, null, checkCsrf, newId]',
  ].join('\n')
  t.same(await broken('server/src/infra/probe.ts', code), [1, 2, 3].map((l) => `${l} ${RESTRICTED}`))
  // (the real db.ts is imported by the core: a probe standing in for it imports nothing that leads back to it)
  t.same(await broken('server/src/infra/db.ts', [
    "import { createAuditService } from '../domain/audit.js'",
    "import type { LeadDoc } from '../domain/types.js'",
    'export const all: [typeof createAuditService, LeadDoc | null] = [createAuditService, null]',
  ].join('\n')), [`1 ${RESTRICTED}`])
})

t.test('the contracts import nothing of the server but lib helpers', async (t) => {
  t.same(await broken('server/src/contracts/probe.ts', [
    "import { createCore } from '../domain/core.js'",
    "import { parseJsonStrict } from '../lib/strict-json.js'",
    'export const all = [createCore, parseJsonStrict]',
  ].join('\n')), [`1 ${RESTRICTED}`])
})

t.test('routes call services, not collections, and audit through the audit service', async (t) => {
  const code = [
    "import type { FastifyInstance } from 'fastify'",
    'export async function probe (app: FastifyInstance): Promise<unknown> {',
    '  const { core } = app',
    '  const { c } = core',
    '  await core.c.leads.findOne({})',
    '  await app.mongo.c.events.findOne({})',
    "  await c.auditLog.insertOne({ _id: 'x', at: new Date(), actor: '', action: '', target: '', details: {} })",
    "  return await core.views.list({ sort: 'score_desc', limit: 1 })",
    '}',
  ].join('\n')
  t.same(await broken('server/src/routes/probe.ts', code), [4, 5, 6, 7].map((l) => `${l} no-restricted-syntax`))
  // every route is covered, the ones that read collections longest included
  for (const f of ['exports', 'intent', 'uploads', 'sources']) t.same(await broken(`server/src/routes/${f}.ts`, code), [4, 5, 6, 7].map((l) => `${l} no-restricted-syntax`), f)
})

t.test('an import cycle is refused', async (t) => {
  // lib/cursor.ts imports errors.ts: errors.ts importing it back closes a cycle, another module importing it does not
  const code = "import { decodeCursor } from './lib/cursor.js'\nexport const probe = decodeCursor\n"
  t.same(await broken('server/src/errors.ts', code), ['1 import-x/no-cycle'])
  t.same(await broken('server/src/probe.ts', code), [])
})

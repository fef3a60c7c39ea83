// `npm run api:generate`: writes the console's API types (console/src/lib/api/openapi.d.ts) from the OpenAPI document
// the server serves at GET /docs/json. The app is built in-process on a throwaway embedded FerretDB, so no database
// need be running; test/console/api-client.test.ts fails while the committed file differs from what this writes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../server/src/app.js'
import { loadConfig } from '../server/src/config.js'
import { startFerretDb } from '../server/src/infra/ferretdb.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The generated file, committed with the console's sources. */
export const API_TYPES_FILE = join(root, 'console', 'src', 'lib', 'api', 'openapi.d.ts')

const BANNER = '// Generated from the server\'s OpenAPI document (GET /docs/json) by `npm run api:generate`. Do not edit:\n' +
  '// change the route schemas on the server and run the generator again.\n\n'

/** The OpenAPI document an app serves, as a client fetches it. */
export async function servedDocument (app: FastifyInstance): Promise<OpenAPI3> {
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  if (res.statusCode !== 200) throw new Error(`GET /docs/json answered ${res.statusCode}`)
  return res.json<OpenAPI3>()
}

/** The text of the generated types file for a document (the same options for the generator and the drift test). */
export async function renderApiTypes (doc: OpenAPI3): Promise<string> {
  // the document is given as an object: nothing is fetched or read from disk; `silent` keeps its notes off stdout
  const ast = await openapiTS(structuredClone(doc), { silent: true, alphabetize: false })
  return BANNER + astToString(ast)
}

/** Builds the app on a throwaway embedded FerretDB and returns the document it serves. */
async function documentFromServer (): Promise<OpenAPI3> {
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-api-gen-'))
  const db = await startFerretDb({ dataDir: join(dir, 'db') })
  try {
    // a default configuration (no env read), with the data folder (where the secret key file goes) in the throwaway one
    const config = loadConfig({ MONGODB_URI: db.uri, MONGODB_DB: 'leadscore_api_gen', LEADSCORE_DATA_DIR: dir, LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent' })
    const app = await buildApp(config, { logger: false, startWorkers: false })
    try {
      await app.ready()
      return await servedDocument(app)
    } finally {
      await app.close()
    }
  } finally {
    await db.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const text = await renderApiTypes(await documentFromServer())
  writeFileSync(API_TYPES_FILE, text)
  console.log(`wrote ${relative(root, API_TYPES_FILE)} (${text.split('\n').length} lines)`)
}

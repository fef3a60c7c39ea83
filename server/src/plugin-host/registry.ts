import { Kind, type TSchema, type TObject } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { durationToMs } from '@leadscore/rules-dsl'
import { CONTRACT_VERSION, type ScoringPlugin, type SourcePlugin } from '../contracts/index.js'
import { LS_ERR_PLUGIN_CONFLICT, LS_ERR_PLUGIN_INVALID } from '../errors.js'

/** The installed plugins, checked: source plugins by id, and scoring plugins in load order. */
export interface PluginRegistry {
  sources: ReadonlyMap<string, SourcePlugin>
  scoring: readonly ScoringPlugin[]
}

const ID_RE = /^[a-z][a-z0-9_]{1,49}$/
const SEMVER_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/
const ROUTE_RE = /^(?:\/[a-z0-9_-]+)+$/
/** Sub-paths of `/v1/sources/:id` that the host itself serves. */
const RESERVED_ROUTES = new Set(['/rotate-secret', '/poll', '/stats'])
const MAX_BODY_LIMIT = 100 * 1024 * 1024

const POLL_UNITS = ['ms', 's', 'm', 'h', 'd'] as const
/** Milliseconds of a duration such as `30s`, `5m`, `1h`; null when malformed. */
export function parseDuration (text: string): number | null {
  return durationToMs(text, { units: POLL_UNITS, maxAmount: 999_999_999 })
}

function isSchema (v: unknown): v is TSchema {
  return v !== null && typeof v === 'object' && typeof (v as Record<symbol, unknown>)[Kind] === 'string'
}

function invalid (id: string, why: string): never {
  throw new LS_ERR_PLUGIN_INVALID(id, why)
}

function checkManifest (p: { manifest?: unknown }, label: string): { id: string; config: TObject; secrets: readonly string[] } {
  const m = p.manifest as Record<string, unknown> | undefined
  if (m === undefined || m === null || typeof m !== 'object') invalid(label, 'it has no manifest')
  const id = m.id
  if (typeof id !== 'string' || !ID_RE.test(id)) invalid(label, `manifest.id must be lower_snake (${String(ID_RE)})`)
  if (typeof m.version !== 'string' || !SEMVER_RE.test(m.version)) invalid(id, 'manifest.version must be a semver version such as 1.0.0')
  if (m.contract !== CONTRACT_VERSION) invalid(id, `it was built for plugin contract ${String(m.contract)}; this server speaks contract ${CONTRACT_VERSION}`)
  const config = m.config
  if (!isSchema(config) || config[Kind] !== 'Object') invalid(id, 'manifest.config must be a TypeBox Type.Object schema')
  try { TypeCompiler.Compile(config) } catch (err) { invalid(id, `manifest.config does not compile: ${(err as Error).message}`) }
  const props = (config as TObject).properties
  const secrets = m.secrets ?? []
  if (!Array.isArray(secrets)) invalid(id, 'manifest.secrets must be an array of config keys')
  for (const s of secrets as unknown[]) {
    if (typeof s !== 'string' || !(s in props)) invalid(id, `secret '${String(s)}' is not a key of manifest.config`)
    if ((props[s] as TSchema)[Kind] !== 'String') invalid(id, `secret '${s}' must be a Type.String() config key`)
  }
  if (new Set(secrets as string[]).size !== (secrets as string[]).length) invalid(id, 'manifest.secrets lists a key twice')
  return { id, config: config as TObject, secrets: secrets as string[] }
}

/** Checks one source plugin as the host will use it; throws LS_ERR_PLUGIN_INVALID with the reason. */
export function validateSourcePlugin (p: SourcePlugin): void {
  const { id } = checkManifest(p, 'source plugin')
  if (p.http === undefined && p.poll === undefined && p.batch === undefined) invalid(id, 'a source needs http, poll or batch')
  if (p.generateSecret !== undefined && typeof p.generateSecret !== 'function') invalid(id, 'generateSecret must be a function')
  if (p.checkConfig !== undefined && typeof p.checkConfig !== 'function') invalid(id, 'checkConfig must be a function')
  if (p.http !== undefined) {
    if (!Array.isArray(p.http.routes) || p.http.routes.length === 0) invalid(id, 'http.routes must list at least one route')
    const seen = new Set<string>()
    for (const r of p.http.routes) {
      if (r.method !== 'POST' && r.method !== 'PUT') invalid(id, `route ${String(r.url)}: method must be POST or PUT`)
      if (typeof r.url !== 'string' || !ROUTE_RE.test(r.url)) invalid(id, `route '${String(r.url)}' must look like /segment/track (lower case, digits, - and _)`)
      if (RESERVED_ROUTES.has(r.url)) throw new LS_ERR_PLUGIN_CONFLICT(id, `route ${r.url} is served by the host`)
      const key = `${r.method} ${r.url}`
      if (seen.has(key)) throw new LS_ERR_PLUGIN_CONFLICT(id, `route ${key} is declared twice`)
      seen.add(key)
      if (typeof r.handle !== 'function') invalid(id, `route ${key} needs a handle function`)
      if (r.verify !== undefined && typeof r.verify !== 'function') invalid(id, `route ${key}: verify must be a function`)
      if (r.body !== undefined && !isSchema(r.body)) invalid(id, `route ${key}: body must be a TypeBox schema`)
      if (r.bodyLimit !== undefined && (!Number.isInteger(r.bodyLimit) || r.bodyLimit < 1 || r.bodyLimit > MAX_BODY_LIMIT)) invalid(id, `route ${key}: bodyLimit must be an integer from 1 to ${MAX_BODY_LIMIT}`)
      if (r.successStatus !== undefined && r.successStatus !== 200 && r.successStatus !== 202) invalid(id, `route ${key}: successStatus must be 200 or 202`)
    }
  }
  if (p.poll !== undefined) {
    if (typeof p.poll.fetch !== 'function') invalid(id, 'poll.fetch must be a function')
    if (typeof p.poll.every === 'string') {
      const ms = parseDuration(p.poll.every)
      if (ms === null || ms < 1000) invalid(id, `poll.every '${p.poll.every}' must be a duration of at least 1s (e.g. 30s, 5m, 1h)`)
    } else if (typeof p.poll.every !== 'function') {
      invalid(id, 'poll.every must be a duration string or a function of the config')
    }
  }
  if (p.batch !== undefined) {
    if (!Array.isArray(p.batch.accepts) || p.batch.accepts.length === 0 || p.batch.accepts.some((a) => typeof a !== 'string')) invalid(id, 'batch.accepts must list MIME types')
    if (typeof p.batch.parse !== 'function') invalid(id, 'batch.parse must be a function')
  }
}

/** Checks one scoring plugin; throws LS_ERR_PLUGIN_INVALID with the reason. */
export function validateScoringPlugin (p: ScoringPlugin): void {
  const { id } = checkManifest(p, 'scoring plugin')
  if (p.score !== undefined && typeof p.score !== 'function') invalid(id, 'score must be a function')
}

/**
 * Checks every plugin and builds the registry. Fails (at boot) on an invalid plugin (LS_ERR_PLUGIN_INVALID), and
 * on two plugins with one id or one source route (LS_ERR_PLUGIN_CONFLICT): ids name stored instances and prefix
 * rule ids, so they must be unique.
 */
export function createRegistry (plugins: readonly unknown[]): PluginRegistry {
  const sources = new Map<string, SourcePlugin>()
  const scoring: ScoringPlugin[] = []
  const ids = new Set<string>()
  const routes = new Map<string, string>()
  for (const raw of plugins) {
    if (raw === null || typeof raw !== 'object') invalid(String(raw), 'a plugin must be an object made with defineSourcePlugin or defineScoringPlugin')
    const p = raw as { kind?: unknown; manifest?: { id?: unknown } }
    const label = typeof p.manifest?.id === 'string' ? p.manifest.id : 'plugin'
    if (p.kind === 'source') validateSourcePlugin(raw as SourcePlugin)
    else if (p.kind === 'scoring') validateScoringPlugin(raw as ScoringPlugin)
    else invalid(label, `kind must be 'source' or 'scoring', not ${JSON.stringify(p.kind)}`)
    const id = label
    if (ids.has(id)) throw new LS_ERR_PLUGIN_CONFLICT(id, 'two installed plugins have this id')
    ids.add(id)
    if (p.kind === 'source') {
      const sp = raw as SourcePlugin
      for (const r of sp.http?.routes ?? []) {
        const key = `${r.method} ${r.url}`
        const other = routes.get(key)
        if (other !== undefined) throw new LS_ERR_PLUGIN_CONFLICT(id, `route ${key} is also declared by '${other}'`)
        routes.set(key, id)
      }
      sources.set(id, sp)
    } else {
      scoring.push(raw as ScoringPlugin)
    }
  }
  return { sources, scoring }
}

/**
 * Imports plugin packages named in LEADSCORE_PLUGINS. A module exports its plugin as `default`, as `plugin`, or a
 * list as `plugins`.
 */
export async function importPlugins (specifiers: readonly string[]): Promise<unknown[]> {
  const out: unknown[] = []
  for (const spec of specifiers) {
    let mod: Record<string, unknown>
    try {
      mod = await import(spec) as Record<string, unknown>
    } catch (err) {
      throw new LS_ERR_PLUGIN_INVALID(spec, `the module cannot be imported: ${(err as Error).message}`)
    }
    const found = mod.plugins ?? mod.plugin ?? mod.default
    if (Array.isArray(found)) out.push(...found as unknown[])
    else if (found !== undefined) out.push(found)
    else throw new LS_ERR_PLUGIN_INVALID(spec, 'the module exports no plugin (default, plugin or plugins)')
  }
  return out
}

import { randomBytes } from 'node:crypto'
import type { TObject } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { PermanentSourceError, TransientSourceError, type SourcePlugin } from '../contracts/index.js'
import type { Collections } from '../infra/db.js'
import type { PluginInstanceDoc, SecretVersion } from '../domain/types.js'
import { newId } from '../lib/ids.js'
import { resolvePublicHost } from '../lib/address-guard.js'
import { decodeKeys, encodeKeys, findForbiddenKey } from '../lib/keys.js'
import type { PluginRegistry } from './registry.js'
import type { SecretBox } from '../lib/secret-box.js'
import type { AuditService } from '../domain/audit.js'
import {
  LS_ERR_PLUGIN_INVALID, LS_ERR_SOURCE_CONFIG_INVALID, LS_ERR_SOURCE_HOST_PRIVATE, LS_ERR_SOURCE_NOT_FOUND, LS_ERR_SOURCE_SECRET_INVALID,
  LS_ERR_SOURCE_SECRET_REQUIRED, LS_ERR_SOURCE_TYPE_UNKNOWN, LS_ERR_VALIDATION,
} from '../errors.js'

/**
 * Config keys that say where, and as whom, a source's secrets are sent (a polled server's host, port, login): when
 * one changes, every secret must be given again, so a stored write-only password never goes to a new destination.
 */
const DESTINATION_KEYS = ['host', 'port', 'user'] as const

/** Longest overlap a rotation may give the previous secret. */
export const MAX_OVERLAP_SECONDS = 30 * 86_400
export const DEFAULT_OVERLAP_SECONDS = 86_400

export interface CreateSourceInput { type: string; name: string; config?: Record<string, unknown>; enabled?: boolean }
export interface UpdateSourceInput { name?: string; enabled?: boolean; config?: Record<string, unknown> }
export interface RotateSecretInput { name?: string; value?: string; overlapSeconds?: number }

/** The change an operation made, for hooks that follow instances (the poller, live contexts). */
export type InstanceChange = { kind: 'created' | 'updated'; doc: PluginInstanceDoc } | { kind: 'deleted'; id: string }

export interface InstanceServiceDeps {
  c: Collections
  registry: PluginRegistry
  now: () => Date
  onChange?: (change: InstanceChange) => void
  /** Seals secret values for storage (webhook HMAC secrets, write keys, IMAP passwords); opened only when used. */
  secrets: SecretBox
  /** Whether a source's `host` may be (or resolve to) a private or loopback address (LEADSCORE_WEBHOOKS_ALLOW_PRIVATE). */
  allowPrivateHosts?: boolean
  /** The audit log every change is written to (the core's one service). */
  audit: AuditService
}

/** Config validation errors as one readable line (every failing path). */
function describeErrors (schema: TObject, value: unknown): string {
  return [...Value.Errors(schema, value)].slice(0, 20).map((e) => `${e.path === '' ? '(root)' : e.path}: ${e.message}`).join('; ')
}

/** The secret versions still valid at `at`, newest first. */
export function activeVersions (versions: readonly SecretVersion[] | undefined, at: Date): SecretVersion[] {
  return (versions ?? []).filter((v) => v.expiresAt === null || v.expiresAt.getTime() > at.getTime())
}

/**
 * Run-time configured source instances: create, change, delete, rotate secrets. Configs are validated against the
 * plugin's manifest on every change and at boot; secret values are stored for verification but never returned
 * after the response that created them. Every change is written to the audit log.
 */
export function createInstanceService (deps: InstanceServiceDeps) {
  const { c, registry, now } = deps
  const box = deps.secrets
  /** A new version of a secret, its value sealed for storage. */
  const version = (value: string, t: Date): SecretVersion => ({ id: newId('sec'), value: box.seal(value), createdAt: t, expiresAt: null })

  function pluginOf (type: string): SourcePlugin {
    const p = registry.sources.get(type)
    if (p === undefined) throw new LS_ERR_SOURCE_TYPE_UNKNOWN(type)
    return p
  }

  function secretKeys (p: SourcePlugin): readonly string[] { return p.manifest.secrets ?? [] }

  /** The config a plugin sees: stored config with each secret's newest value, defaults applied. Throws when invalid. */
  function effectiveConfig (p: SourcePlugin, doc: Pick<PluginInstanceDoc, 'config' | 'secrets'>, at: Date): Record<string, unknown> {
    const raw: Record<string, unknown> = { ...decodeKeys(doc.config) }
    for (const k of secretKeys(p)) {
      const v = activeVersions(doc.secrets[k], at)[0]
      if (v !== undefined) raw[k] = box.open(v.value)
    }
    const withDefaults = Value.Default(p.manifest.config, Value.Clone(raw)) as Record<string, unknown>
    if (!Value.Check(p.manifest.config, withDefaults)) throw new LS_ERR_SOURCE_CONFIG_INVALID(describeErrors(p.manifest.config as TObject, withDefaults))
    const problems = p.checkConfig?.(withDefaults as never) ?? []
    if (problems.length > 0) throw new LS_ERR_SOURCE_CONFIG_INVALID(problems.join('; '))
    return withDefaults
  }

  /** The config shown through the API: effective config without any secret key. */
  function publicConfig (p: SourcePlugin | undefined, doc: PluginInstanceDoc): Record<string, unknown> {
    const decoded = decodeKeys(doc.config)
    if (p === undefined) return decoded
    const withDefaults = Value.Default(p.manifest.config, Value.Clone(decoded)) as Record<string, unknown>
    for (const k of secretKeys(p)) delete withDefaults[k]
    return withDefaults
  }

  function generate (p: SourcePlugin, name: string): string {
    const v = p.generateSecret !== undefined ? p.generateSecret(name) : randomBytes(32).toString('base64url')
    if (v === null) throw new LS_ERR_SOURCE_CONFIG_INVALID(`/${name}: this secret cannot be generated; supply it`)
    if (typeof v !== 'string' || v === '') throw new LS_ERR_PLUGIN_INVALID(p.manifest.id, `generateSecret('${name}') returned no string`)
    return v
  }

  function checkConfigInput (config: unknown): Record<string, unknown> {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new LS_ERR_SOURCE_CONFIG_INVALID('config must be an object')
    const bad = findForbiddenKey(config)
    if (bad !== null) throw new LS_ERR_SOURCE_CONFIG_INVALID(`the key '${bad}' is not allowed`)
    return config as Record<string, unknown>
  }

  const allowPrivate = deps.allowPrivateHosts ?? false

  /** Refuses a config whose `host` is, or resolves to, a private address. An unresolvable name is checked at connect time. */
  async function checkHost (config: Record<string, unknown>): Promise<void> {
    if (typeof config.host !== 'string') return
    const r = await resolvePublicHost(config.host, allowPrivate)
    if (!r.ok && !r.lookupFailed) throw new LS_ERR_SOURCE_HOST_PRIVATE(`${r.problem} (allowed only with LEADSCORE_WEBHOOKS_ALLOW_PRIVATE=1)`)
  }

  /**
   * The config to connect with: `host` resolved again now (DNS can change since the config was saved) and pinned to
   * the checked address, so the connection cannot go to another address than the one judged. When the name is
   * replaced, it is passed as `servername` (if the plugin's schema has one) for TLS name checks.
   */
  async function connectConfig (p: SourcePlugin, config: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (typeof config.host !== 'string') return config
    const r = await resolvePublicHost(config.host, allowPrivate)
    if (!r.ok && r.lookupFailed) throw new TransientSourceError(r.problem, { code: 'LS_ERR_SOURCE_UNAVAILABLE' })
    if (!r.ok) throw new PermanentSourceError(`${r.problem}; not connecting (allowed only with LEADSCORE_WEBHOOKS_ALLOW_PRIVATE=1)`, { code: 'LS_ERR_SOURCE_HOST_PRIVATE' })
    const hasServername = Object.hasOwn((p.manifest.config as TObject).properties ?? {}, 'servername')
    const name = config.host.replace(/^\[|\]$/g, '')
    if (r.address === name) return config
    return { ...config, host: r.address, ...(hasServername && config.servername === undefined ? { servername: name } : {}) }
  }

  const audit = deps.audit.record

  async function get (id: string): Promise<PluginInstanceDoc> {
    const doc = await c.pluginInstances.findOne({ _id: id })
    if (doc === null) throw new LS_ERR_SOURCE_NOT_FOUND(id)
    return doc
  }

  return {
    pluginOf,
    effectiveConfig,
    publicConfig,
    connectConfig,

    /**
     * Seals secret values stored in plain text (before encryption) or under a previous key, at boot; a value sealed
     * with an unknown key fails here. Returns how many instances were rewritten.
     */
    async sealStored (): Promise<number> {
      let sealed = 0
      for (const doc of await c.pluginInstances.find({}).toArray()) {
        let changed = false
        const secrets: Record<string, SecretVersion[]> = {}
        for (const [k, versions] of Object.entries(doc.secrets ?? {})) {
          secrets[k] = versions.map((v) => {
            const value = box.reseal(v.value)
            if (value !== v.value) changed = true
            return { ...v, value }
          })
        }
        if (!changed) continue
        // only if no change happened meanwhile
        await c.pluginInstances.updateOne({ _id: doc._id, rev: doc.rev }, { $set: { secrets } })
        sealed++
      }
      return sealed
    },

    /** Every secret value of `name` valid at `at`, newest first. */
    secretValues (doc: PluginInstanceDoc, name: string, at: Date): string[] {
      return activeVersions(doc.secrets[name], at).map((v) => box.open(v.value))
    },

    /** Creates an instance. Secrets not supplied are generated; all of them are returned here, and only here. */
    async create (input: CreateSourceInput, actor: string): Promise<{ doc: PluginInstanceDoc; secrets: Record<string, string> }> {
      const p = pluginOf(input.type)
      // a source that only parses uploads has nothing to run per instance: files go to POST /v1/uploads
      if (p.http === undefined && p.poll === undefined) throw Object.assign(new LS_ERR_VALIDATION(`type: '${input.type}' reads uploaded files (POST /v1/uploads); it has no instances`), { errors: [{ pointer: '#/type', detail: 'reads uploaded files; it has no instances' }] })
      const config = { ...checkConfigInput(input.config ?? {}) }
      const t = now()
      const shown: Record<string, string> = {}
      const secrets: Record<string, SecretVersion[]> = {}
      for (const k of secretKeys(p)) {
        const given = config[k]
        delete config[k]
        if (given !== undefined && typeof given !== 'string') throw new LS_ERR_SOURCE_CONFIG_INVALID(`/${k}: a secret must be a string`)
        const value = given ?? generate(p, k)
        shown[k] = value
        secrets[k] = [version(value, t)]
      }
      const doc: PluginInstanceDoc = {
        _id: newId('src'), kind: 'source', type: p.manifest.id, name: input.name, enabled: input.enabled ?? true,
        config: encodeKeys(config), secrets, rev: 1, createdBy: actor, createdAt: t, updatedAt: t,
      }
      await checkHost(effectiveConfig(p, doc, t))
      await c.pluginInstances.insertOne(doc)
      await audit(actor, 'source.create', doc._id, { type: doc.type, name: doc.name, enabled: doc.enabled, secrets: Object.keys(shown) })
      deps.onChange?.({ kind: 'created', doc })
      return { doc, secrets: shown }
    },

    get,

    async list (): Promise<PluginInstanceDoc[]> {
      return await c.pluginInstances.find({}).sort({ createdAt: -1 }).limit(1000).toArray()
    },

    /**
     * Changes name, enabled or config. `config` is merged key by key over the stored config (a key set to null is
     * removed); a secret key given here replaces that secret at once, without overlap (use rotation for overlap).
     */
    async update (id: string, patch: UpdateSourceInput, actor: string): Promise<PluginInstanceDoc> {
      const doc = await get(id)
      const p = pluginOf(doc.type)
      const t = now()
      const next: PluginInstanceDoc = { ...doc, secrets: { ...doc.secrets }, rev: doc.rev + 1, updatedAt: t }
      if (patch.name !== undefined) next.name = patch.name
      if (patch.enabled !== undefined) next.enabled = patch.enabled
      const changedKeys: string[] = []
      const replacedSecrets: string[] = []
      if (patch.config !== undefined) {
        const merged: Record<string, unknown> = decodeKeys(doc.config)
        for (const [k, v] of Object.entries(checkConfigInput(patch.config))) {
          if (secretKeys(p).includes(k)) {
            if (typeof v !== 'string') throw new LS_ERR_SOURCE_CONFIG_INVALID(`/${k}: a secret must be a string`)
            next.secrets[k] = [version(v, t)]
            replacedSecrets.push(k)
            continue
          }
          changedKeys.push(k)
          if (v === null) delete merged[k]
          else merged[k] = v
        }
        next.config = encodeKeys(merged)
      }
      const before = effectiveConfig(p, doc, t)
      const after = effectiveConfig(p, next, t)
      const moved = DESTINATION_KEYS.filter((k) => k in after && JSON.stringify(after[k]) !== JSON.stringify(before[k]))
      const missing = secretKeys(p).filter((k) => !replacedSecrets.includes(k))
      if (moved.length > 0 && missing.length > 0) {
        throw new LS_ERR_SOURCE_SECRET_REQUIRED(`changing ${moved.join(', ')} needs ${missing.join(', ')} in the same request (the stored value is not sent to a new destination)`)
      }
      if (patch.config !== undefined) await checkHost(after)
      await c.pluginInstances.replaceOne({ _id: id }, next)
      await audit(actor, 'source.update', id, {
        ...(patch.name !== undefined ? { name: patch.name } : {}), ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
        configKeys: changedKeys, replacedSecrets,
      })
      deps.onChange?.({ kind: 'updated', doc: next })
      return next
    },

    /** Deletes an instance with its state and counters. Its stored events stay (their sourceId keeps naming it). */
    async remove (id: string, actor: string): Promise<PluginInstanceDoc> {
      const doc = await get(id)
      await c.pluginInstances.deleteOne({ _id: id })
      await c.sourceState.deleteMany({ instanceId: id })
      await c.sourceStats.deleteMany({ sourceId: id })
      await audit(actor, 'source.delete', id, { type: doc.type, name: doc.name })
      deps.onChange?.({ kind: 'deleted', id })
      return doc
    },

    /**
     * Makes `value` (or a generated one) the newest value of a secret. The values valid until now stay valid for
     * `overlapSeconds` more (an earlier expiry is kept), so senders can switch over without failed deliveries.
     */
    async rotateSecret (id: string, input: RotateSecretInput, actor: string): Promise<{ doc: PluginInstanceDoc; name: string; value: string; previousExpiresAt: Date | null }> {
      const doc = await get(id)
      const p = pluginOf(doc.type)
      const keys = secretKeys(p)
      if (keys.length === 0) throw new LS_ERR_SOURCE_SECRET_INVALID(`source type '${p.manifest.id}' has no secrets`)
      const name = input.name ?? keys[0]!
      if (!keys.includes(name)) throw new LS_ERR_SOURCE_SECRET_INVALID(`source type '${p.manifest.id}' has no secret '${name}' (it has: ${keys.join(', ')})`)
      const overlap = input.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS
      const t = now()
      const until = new Date(t.getTime() + overlap * 1000)
      const value = input.value ?? generate(p, name)
      const kept = activeVersions(doc.secrets[name], t).map((v) => ({
        ...v, expiresAt: v.expiresAt !== null && v.expiresAt.getTime() < until.getTime() ? v.expiresAt : until,
      })).filter((v) => v.expiresAt.getTime() > t.getTime())
      const next: PluginInstanceDoc = {
        ...doc, secrets: { ...doc.secrets, [name]: [version(value, t), ...kept] }, rev: doc.rev + 1, updatedAt: t,
      }
      effectiveConfig(p, next, t)
      await c.pluginInstances.replaceOne({ _id: id }, next)
      const previousExpiresAt = kept.length > 0 ? new Date(Math.max(...kept.map((v) => v.expiresAt.getTime()))) : null
      await audit(actor, 'source.rotate_secret', id, { secret: name, overlapSeconds: overlap, previousExpiresAt: previousExpiresAt?.toISOString() ?? null })
      deps.onChange?.({ kind: 'updated', doc: next })
      return { doc: next, name, value, previousExpiresAt }
    },

    /**
     * Boot check: every stored instance names an installed plugin and its config is valid for it. A server that
     * cannot run a configured source refuses to start (LS_ERR_PLUGIN_INVALID names the instance).
     */
    async checkAll (): Promise<PluginInstanceDoc[]> {
      const docs = await c.pluginInstances.find({}).toArray()
      const t = now()
      for (const d of docs) {
        const p = registry.sources.get(d.type)
        if (p === undefined) throw new LS_ERR_PLUGIN_INVALID(d.type, `source '${d._id}' (${d.name}) needs it, but it is not installed`)
        try {
          effectiveConfig(p, d, t)
        } catch (err) {
          throw new LS_ERR_PLUGIN_INVALID(d.type, `the stored config of source '${d._id}' (${d.name}) is invalid: ${(err as Error).message}`)
        }
      }
      return docs
    },
  }
}

export type InstanceService = ReturnType<typeof createInstanceService>

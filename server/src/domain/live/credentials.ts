import type { Scope } from '../types.js'
import { hasScope, type ApiKeyService, type Principal } from '../auth/api-keys.js'
import { sessionPrincipal, type UserService } from '../auth/users.js'

/**
 * What a WebSocket connection stands on: an API key or a console session, by id. A connection lasts far longer than
 * a request, so the credential is re-checked while it is open, and a ticket (tickets.ts) names one.
 */
export type LiveCredential = { kind: 'key'; id: string } | { kind: 'session'; id: string }

/** The credential behind a principal: the session for a signed-in user, else the key. */
export function credentialOf (p: Principal): LiveCredential {
  return p.user !== undefined ? { kind: 'session', id: p.user.sessionId } : { kind: 'key', id: p.keyId }
}

/** One string per credential, to key maps and sets by. */
export function credentialKey (c: LiveCredential): string {
  return `${c.kind}:${c.id}`
}

export interface CredentialDeps {
  apiKeys: Pick<ApiKeyService, 'activePrincipals'>
  users: Pick<UserService, 'openSessions'>
}

/** The principals of those of `creds` still valid now (keys not revoked; sessions open, their users enabled), by credentialKey. */
export async function resolveCredentials (deps: CredentialDeps, creds: readonly LiveCredential[]): Promise<Map<string, Principal>> {
  const keyIds = creds.filter((c) => c.kind === 'key').map((c) => c.id)
  const sessionIds = creds.filter((c) => c.kind === 'session').map((c) => c.id)
  const out = new Map<string, Principal>()
  if (keyIds.length > 0) {
    for (const [id, p] of await deps.apiKeys.activePrincipals(keyIds)) out.set(credentialKey({ kind: 'key', id }), p)
  }
  if (sessionIds.length > 0) {
    for (const [id, s] of await deps.users.openSessions(sessionIds)) out.set(credentialKey({ kind: 'session', id }), sessionPrincipal(s.user, s.sessionId))
  }
  return out
}

/** The credentialKeys of those of `creds` whose principal is still valid and has `scope`. */
export async function stillAllowed (deps: CredentialDeps, creds: readonly LiveCredential[], scope: Scope): Promise<Set<string>> {
  const principals = await resolveCredentials(deps, creds)
  return new Set([...principals].filter(([, p]) => hasScope(p, scope)).map(([k]) => k))
}

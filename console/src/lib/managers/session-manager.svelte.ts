import { api, ApiError } from '../api/index.js'
import { setUnauthorizedHandler } from '../api/client.js'
import type { Scope, SessionInfo, User } from '../api/types.js'

type Status = 'unknown' | 'signed-in' | 'signed-out'

/** Who is signed in to the console, and what they may do. */
class SessionManager {
  info = $state<SessionInfo | null>(null)
  status = $state<Status>('unknown')
  /** Set when the server ended the session (expired, signed out elsewhere); shown on the sign-in page. */
  expired = $state(false)
  private loading: Promise<void> | null = null

  constructor () {
    setUnauthorizedHandler(() => {
      if (this.status === 'signed-in') this.expired = true
      this.info = null
      this.status = 'signed-out'
    })
  }

  get user (): User | null { return this.info?.user ?? null }

  /** Whether the user has `scope` (admin implies every scope). */
  can (scope: Scope): boolean {
    const scopes = this.info?.scopes ?? []
    return scopes.includes('admin') || scopes.includes(scope)
  }

  /** Asks the server once (concurrent callers share the request); later calls return the known state. */
  async load (force = false): Promise<void> {
    if (!force && this.status !== 'unknown') return
    this.loading ??= (async () => {
      try {
        this.info = await api.session.get()
        this.status = 'signed-in'
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 401) throw err
        this.info = null
        this.status = 'signed-out'
      } finally {
        this.loading = null
      }
    })()
    await this.loading
  }

  async signIn (email: string, password: string): Promise<void> {
    this.info = await api.session.create({ email, password })
    this.status = 'signed-in'
    this.expired = false
  }

  async signOut (): Promise<void> {
    try {
      await api.session.delete()
    } finally {
      this.info = null
      this.status = 'signed-out'
      this.expired = false
    }
  }
}

export const session = new SessionManager()

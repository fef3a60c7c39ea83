import { api } from '../api/index.js'
import type { Lead, LeadScoredData } from '../api/types.js'
import { rankMovements, type Movement } from '../leaderboard.js'
import { endOfDayUtc } from '../charts/trend.js'

const MARK_MS = 30_000

/**
 * The live leaderboard: the top N leads, re-read shortly after each `lead.scored` message (so entrants and their
 * names are right) with each lead's rank movement kept on show for 30 s.
 */
class Leaderboard {
  limit = $state(10)
  stage = $state('')
  /** A day (`YYYY-MM-DD`): the board as of its end (UTC), read from the ledger and not live; '' for now. */
  asOf = $state('')
  items = $state<Lead[]>([])
  loading = $state(false)
  loaded = $state(false)
  error = $state<unknown>(null)
  marks = $state<Record<string, { movement: Movement; at: number }>>({})
  deltas = $state<Record<string, { delta: number; at: number }>>({})
  updatedAt = $state<number | null>(null)
  private timer: ReturnType<typeof setTimeout> | null = null
  private firstPending = 0

  /** Reads the board; `compare` computes movements against the current order (false after a filter change). */
  async load (compare = true): Promise<void> {
    this.loading = true
    const before = compare ? this.items.map((l) => l.id) : []
    try {
      const at = endOfDayUtc(this.asOf)
      const res = await api.leaderboard({ limit: this.limit, ...(this.stage !== '' ? { stage: this.stage } : {}), ...(at !== null ? { asOf: at } : {}) })
      const now = Date.now()
      const marks: Record<string, { movement: Movement; at: number }> = {}
      for (const [id, m] of Object.entries(this.marks)) if (now - m.at < MARK_MS) marks[id] = m
      for (const [id, movement] of rankMovements(before, res.items.map((l) => l.id))) marks[id] = { movement, at: now }
      this.marks = marks
      this.items = res.items
      this.error = null
      this.loaded = true
      this.updatedAt = now
    } catch (err) {
      this.error = err
    } finally {
      this.loading = false
    }
  }

  /** A score changed somewhere: show it at once on a listed lead, and re-read the board soon (at most every 250 ms, within 1 s). */
  onScored (d: LeadScoredData): void {
    // a board as of a past day does not move with today's scores
    if (this.asOf !== '') return
    const row = this.items.find((l) => l.id === d.leadId)
    if (row !== undefined) {
      row.score = d.score
      row.stage = d.stage
    }
    this.deltas[d.leadId] = { delta: d.delta, at: Date.now() }
    const now = Date.now()
    if (this.timer !== null) {
      if (now - this.firstPending > 1000) return
      clearTimeout(this.timer)
    } else {
      this.firstPending = now
    }
    this.timer = setTimeout(() => { this.timer = null; void this.load() }, 250)
  }

  /** Forgets marks and deltas older than 30 s. */
  expire (): void {
    const now = Date.now()
    for (const [id, m] of Object.entries(this.marks)) if (now - m.at > MARK_MS) delete this.marks[id]
    for (const [id, d] of Object.entries(this.deltas)) if (now - d.at > MARK_MS) delete this.deltas[id]
  }
}

export const leaderboard = new Leaderboard()

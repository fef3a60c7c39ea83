import { api, ApiError } from '../api/index.js'
import type { Lead, LeadScoredData, SortName } from '../api/types.js'
import { emptyLeadFilters, toLeadQuery, type LeadFilterForm } from '../leads-query.js'

export interface RowFlash { delta: number; at: number }

/**
 * The leads table: filters, sort and cursor pages, kept while the console is open so going back to the list finds
 * it as it was. Live `lead.scored` messages update visible rows in place; rows never move under the reader's cursor
 * (a changed order is offered as a refresh instead).
 */
class LeadsTable {
  filters = $state<LeadFilterForm>(emptyLeadFilters())
  sort = $state<SortName>('score_desc')
  pageSize = $state(25)
  items = $state<Lead[]>([])
  loading = $state(false)
  loaded = $state(false)
  error = $state<unknown>(null)
  filterError = $state<string | null>(null)
  nextCursor = $state<string | null>(null)
  /** The cursors of the pages visited so far; the last one is the current page's. */
  cursors = $state<Array<string | null>>([null])
  flashes = $state<Record<string, RowFlash>>({})
  /** Live updates for leads not on this page since the last load. */
  outside = $state(0)
  /** A visible lead's score changed, so the sort order may be stale. */
  reorder = $state(false)
  private controller: AbortController | null = null
  private pendingRows = new Set<string>()
  private rowTimer: ReturnType<typeof setTimeout> | null = null

  get page (): number { return this.cursors.length }

  /** Loads the first page for the current filters and sort. */
  async reload (): Promise<void> {
    this.cursors = [null]
    await this.fetchPage()
  }

  /** Re-reads the current page (coming back to the list); the rows stay on show meanwhile. */
  async refresh (): Promise<void> {
    await this.fetchPage()
  }

  async nextPage (): Promise<void> {
    if (this.nextCursor === null) return
    this.cursors = [...this.cursors, this.nextCursor]
    await this.fetchPage()
  }

  async prevPage (): Promise<void> {
    if (this.cursors.length <= 1) return
    this.cursors = this.cursors.slice(0, -1)
    await this.fetchPage()
  }

  clearFilters (): void {
    this.filters = emptyLeadFilters()
  }

  private async fetchPage (): Promise<void> {
    const q = toLeadQuery(this.filters)
    this.filterError = q.error
    if (q.query === null) return
    this.controller?.abort()
    const controller = new AbortController()
    this.controller = controller
    this.loading = true
    try {
      const page = await api.leads.list({ ...q.query, sort: this.sort, limit: this.pageSize, cursor: this.cursors[this.cursors.length - 1] ?? null }, controller.signal)
      this.items = page.items
      this.nextCursor = page.nextCursor
      this.error = null
      this.outside = 0
      this.reorder = false
      this.loaded = true
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') return
      this.error = err
    } finally {
      if (this.controller === controller) {
        this.loading = false
        this.controller = null
      }
    }
  }

  /** Applies a live score change to its row, if shown; the rest of the row is refreshed shortly after. */
  applyScored (d: LeadScoredData): void {
    const i = this.items.findIndex((l) => l.id === d.leadId)
    if (i < 0) {
      this.outside++
      return
    }
    const row = this.items[i]!
    row.score = d.score
    row.stage = d.stage
    row.scores = { ...row.scores, engagement: d.parts.engagement, fit: d.parts.fit, intent: d.parts.intent }
    this.flashes[d.leadId] = { delta: d.delta, at: Date.now() }
    if (this.sort.startsWith('score') || this.sort === 'last_event_desc' || this.sort === 'updated_desc') this.reorder = true
    this.pendingRows.add(d.leadId)
    this.rowTimer ??= setTimeout(() => { void this.refreshRows() }, 400)
  }

  private async refreshRows (): Promise<void> {
    this.rowTimer = null
    const ids = [...this.pendingRows].slice(0, 25)
    this.pendingRows.clear()
    await Promise.all(ids.map(async (id) => {
      try {
        const fresh = await api.leads.get(id)
        const i = this.items.findIndex((l) => l.id === id)
        if (i >= 0) this.items[i] = fresh
      } catch (err) {
        if (!(err instanceof ApiError)) throw err
      }
    }))
  }

  /** Drops row highlights older than `ms`. */
  expireFlashes (ms: number): void {
    const now = Date.now()
    for (const [id, f] of Object.entries(this.flashes)) if (now - f.at > ms) delete this.flashes[id]
  }
}

export const leadsTable = new LeadsTable()

// Display helpers (pure; tested by test/console/logic.test.ts).

const numberFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 1 })

export function formatScore (n: number): string {
  return numberFormat.format(n)
}

/** `+10`, `−5` (a real minus sign), `0`. */
export function formatDelta (n: number): string {
  if (n > 0) return `+${numberFormat.format(n)}`
  if (n < 0) return `\u2212${numberFormat.format(-n)}`
  return '0'
}

export function formatDateTime (iso: string | null | undefined): string {
  if (iso == null) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return '—'
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", or the date beyond 30 days. */
export function relativeTime (iso: string | null | undefined, now: number = Date.now()): string {
  if (iso == null) return '—'
  const t = new Date(iso).getTime()
  if (Number.isNaN(t)) return '—'
  const s = Math.round((now - t) / 1000)
  if (s < 0) return 'in the future'
  if (s < 45) return 'just now'
  const m = Math.round(s / 60)
  if (m < 60) return `${m} min ago`
  const h = Math.round(m / 60)
  if (h < 24) return `${h} h ago`
  const d = Math.round(h / 24)
  if (d <= 30) return `${d} d ago`
  return new Date(t).toLocaleDateString()
}

export function leadLabel (l: { name: string | null; email: string | null; externalId: string | null; id: string }): string {
  return l.name ?? l.email ?? l.externalId ?? l.id
}

/** Whole percent of `done` in `total` (0–100; 0 when the total is unknown). */
export function percent (done: number, total: number): number {
  if (!(total > 0)) return 0
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)))
}

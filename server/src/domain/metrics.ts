// A small Prometheus registry: counters, gauges and histograms with labels, in the text exposition format (version
// 0.0.4). Every value is kept in memory and updated where it happens, so a scrape reads nothing from the database.

type Labels = Record<string, string>

function labelKey (l: Labels): string {
  const keys = Object.keys(l).sort()
  return keys.map((k) => `${k}="${String(l[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')
}

class Metric {
  readonly values = new Map<string, number>()
  constructor (readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge') {}
  inc (n = 1, labels: Labels = {}): void {
    const k = labelKey(labels)
    this.values.set(k, (this.values.get(k) ?? 0) + n)
  }

  set (n: number, labels: Labels = {}): void { this.values.set(labelKey(labels), n) }

  render (): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`]
    if (this.values.size === 0 && this.type === 'counter') lines.push(`${this.name} 0`)
    for (const [k, v] of this.values) lines.push(k === '' ? `${this.name} ${v}` : `${this.name}{${k}} ${v}`)
    return lines.join('\n')
  }
}

/** Observations counted into cumulative buckets (`le`), with their sum and count, per label set. */
class Histogram {
  readonly series = new Map<string, { counts: number[]; sum: number; n: number }>()
  constructor (readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe (v: number, labels: Labels = {}): void {
    const k = labelKey(labels)
    let s = this.series.get(k)
    if (s === undefined) this.series.set(k, s = { counts: this.buckets.map(() => 0), sum: 0, n: 0 })
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++
    s.sum += v
    s.n++
  }

  render (): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`]
    const join = (k: string, extra: string): string => k === '' ? `{${extra}}` : `{${k},${extra}}`
    for (const [k, s] of this.series) {
      this.buckets.forEach((b, i) => { lines.push(`${this.name}_bucket${join(k, `le="${b}"`)} ${s.counts[i]!}`) })
      lines.push(`${this.name}_bucket${join(k, 'le="+Inf"')} ${s.n}`)
      lines.push(`${this.name}_sum${k === '' ? '' : `{${k}}`} ${s.sum}`)
      lines.push(`${this.name}_count${k === '' ? '' : `{${k}}`} ${s.n}`)
    }
    return lines.join('\n')
  }
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

export function createMetrics () {
  const all: Array<Metric | Histogram> = []
  const m = (name: string, help: string, type: 'counter' | 'gauge'): Metric => { const x = new Metric(name, help, type); all.push(x); return x }
  const h = (name: string, help: string): Histogram => { const x = new Histogram(name, help, SECONDS); all.push(x); return x }
  return {
    httpRequests: m('leadscore_http_requests_total', 'HTTP requests by method, route and status', 'counter'),
    ingestEvents: m('leadscore_ingest_events_total', 'Submitted events by source and outcome', 'counter'),
    ingestGroups: m('leadscore_ingest_groups_total', 'Group commits: stores of the events of concurrent requests together, by source', 'counter'),
    ingestGroupedRequests: m('leadscore_ingest_grouped_requests_total', 'Requests stored by group commits, by source', 'counter'),
    eventsScored: m('leadscore_events_scored_total', 'Events scored by workers in this process', 'counter'),
    batchesCommitted: m('leadscore_scoring_batches_total', 'Scoring batches committed by this process', 'counter'),
    authFailures: m('leadscore_auth_failures_total', 'Requests refused for a missing or bad key', 'counter'),
    wsClients: m('leadscore_ws_clients', 'Open live WebSocket connections', 'gauge'),
    eventsPending: m('leadscore_events_pending', 'Events stored but not yet scored (sampled at scrape)', 'gauge'),
    httpDuration: h('leadscore_http_request_duration_seconds', 'Time to answer HTTP requests, by method and route'),
    batchDuration: h('leadscore_scoring_batch_duration_seconds', 'Time to score a batch of leads, from reading them to their commit'),
    render (): string { return all.map((x) => x.render()).join('\n') + '\n' },
  }
}

export type Metrics = ReturnType<typeof createMetrics>

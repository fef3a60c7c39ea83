// A small Prometheus registry: counters and gauges with labels, in the text exposition format (version 0.0.4).

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

export function createMetrics () {
  const all: Metric[] = []
  const m = (name: string, help: string, type: 'counter' | 'gauge'): Metric => { const x = new Metric(name, help, type); all.push(x); return x }
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
    render (): string { return all.map((x) => x.render()).join('\n') + '\n' },
  }
}

export type Metrics = ReturnType<typeof createMetrics>

/**
 * The in-process pool that runs scoring in batches of leads: at most `concurrency` batches at once, each of up to
 * `batchSize` leads, each lead in at most one batch at a time. A lead pushed while its batch runs is run again
 * afterwards, so nothing pushed is ever dropped. Leads pushed while the batches run gather into the next ones:
 * under load batches grow (a database command serves many leads), and an idle queue starts a batch at once (low
 * latency).
 */
export class BatchQueue {
  private readonly waiting = new Set<string>()
  private readonly running = new Set<string>()
  private readonly batches = new Set<Promise<void>>()
  private readonly again = new Set<string>()
  private stopped = false

  constructor (
    private readonly concurrency: number,
    private readonly batchSize: number,
    private readonly run: (ids: string[]) => Promise<void>,
    private readonly onError: (ids: string[], err: unknown) => void,
  ) {}

  get size (): number { return this.waiting.size + this.running.size }

  push (id: string): void {
    if (this.stopped) return
    if (this.running.has(id)) { this.again.add(id); return }
    this.waiting.add(id)
    this.pump()
  }

  private pump (): void {
    while (!this.stopped && this.batches.size < this.concurrency && this.waiting.size > 0) {
      const ids: string[] = []
      for (const id of this.waiting) {
        ids.push(id)
        if (ids.length >= this.batchSize) break
      }
      for (const id of ids) { this.waiting.delete(id); this.running.add(id) }
      const p: Promise<void> = this.run(ids).catch((err: unknown) => this.onError(ids, err)).finally(() => {
        this.batches.delete(p)
        for (const id of ids) {
          this.running.delete(id)
          if (this.again.delete(id)) this.waiting.add(id)
        }
        this.pump()
      })
      this.batches.add(p)
    }
  }

  /** Stops taking work and waits (up to timeoutMs) for the batches in progress. */
  async stop (timeoutMs: number): Promise<void> {
    this.stopped = true
    this.waiting.clear()
    this.again.clear()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all([...this.batches]), new Promise((r) => { timer = setTimeout(r, timeoutMs) })])
    clearTimeout(timer)
  }
}

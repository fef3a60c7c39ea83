/**
 * The in-process pool that runs scoring: at most `concurrency` leads at once, each lead at most once at a time, and
 * a lead pushed while it runs is run again afterwards (so nothing pushed is ever dropped).
 */
export class WorkQueue {
  private readonly waiting = new Set<string>()
  private readonly running = new Map<string, Promise<void>>()
  private readonly again = new Set<string>()
  private stopped = false

  constructor (private readonly concurrency: number, private readonly run: (id: string) => Promise<void>, private readonly onError: (id: string, err: unknown) => void) {}

  get size (): number { return this.waiting.size + this.running.size }

  push (id: string): void {
    if (this.stopped) return
    if (this.running.has(id)) { this.again.add(id); return }
    this.waiting.add(id)
    this.pump()
  }

  private pump (): void {
    while (!this.stopped && this.running.size < this.concurrency && this.waiting.size > 0) {
      const id = this.waiting.values().next().value as string
      this.waiting.delete(id)
      const p = this.run(id).catch((err: unknown) => this.onError(id, err)).finally(() => {
        this.running.delete(id)
        if (this.again.delete(id)) this.waiting.add(id)
        this.pump()
      })
      this.running.set(id, p)
    }
  }

  /** Stops taking work and waits (up to timeoutMs) for the runs in progress. */
  async stop (timeoutMs: number): Promise<void> {
    this.stopped = true
    this.waiting.clear()
    this.again.clear()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all([...this.running.values()]), new Promise((r) => { timer = setTimeout(r, timeoutMs) })])
    clearTimeout(timer)
  }
}

/**
 * A counting semaphore whose waiters may give up: `acquire(waitMs)` resolves to a release function, or to null when
 * no slot came free within the wait or when `maxWaiting` such callers wait already (so a burst is refused rather
 * than queued). A caller without a wait queues for as long as it takes and is never refused.
 */
export class Semaphore {
  private active = 0
  private readonly waiting: Array<(release: (() => void) | null) => void> = []
  private deadlineWaiters = 0

  constructor (private readonly slots: number, private readonly maxWaiting = Number.POSITIVE_INFINITY) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError('a semaphore needs at least one slot')
  }

  /** A release function once a slot is held; null when `waitMs` passed first or too many callers wait with one. */
  async acquire (waitMs?: number): Promise<(() => void) | null> {
    if (this.active < this.slots) {
      this.active++
      return this.releaser()
    }
    if (waitMs === undefined) return await new Promise((resolve) => { this.waiting.push(resolve) })
    if (waitMs <= 0 || this.deadlineWaiters >= this.maxWaiting) return null
    this.deadlineWaiters++
    return await new Promise((resolve) => {
      const wake = (release: (() => void) | null): void => {
        clearTimeout(timer)
        this.deadlineWaiters--
        resolve(release)
      }
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(wake)
        if (i >= 0) this.waiting.splice(i, 1)
        wake(null)
      }, waitMs)
      this.waiting.push(wake)
    })
  }

  private releaser (): () => void {
    let done = false
    return () => {
      if (done) return
      done = true
      // the slot passes straight to the next waiter, so a newcomer cannot overtake the queue
      const next = this.waiting.shift()
      if (next !== undefined) next(this.releaser())
      else this.active--
    }
  }
}

/** Counts the calls of one kind of work in progress, to tell whether that work is running now. */
export function createInFlight () {
  let running = 0
  return {
    async run<T> (fn: () => Promise<T>): Promise<T> {
      running++
      try { return await fn() } finally { running-- }
    },
    busy: (): boolean => running > 0,
  }
}

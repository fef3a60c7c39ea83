/** `fn` called once `ms` after the last call; `cancel` drops a pending call, `flush` runs it now. */
export function debounce<A extends unknown[]> (fn: (...args: A) => void, ms: number): ((...args: A) => void) & { cancel: () => void; flush: () => void } {
  let timer: ReturnType<typeof setTimeout> | null = null
  let pending: A | null = null
  const run = (): void => {
    timer = null
    const args = pending
    pending = null
    if (args !== null) fn(...args)
  }
  const debounced = (...args: A): void => {
    pending = args
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(run, ms)
  }
  debounced.cancel = (): void => {
    if (timer !== null) clearTimeout(timer)
    timer = null
    pending = null
  }
  debounced.flush = (): void => {
    if (timer !== null) clearTimeout(timer)
    run()
  }
  return debounced
}

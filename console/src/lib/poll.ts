/**
 * Calls `fn` now and then every `ms` until it returns true (finished) or the returned stop function is called.
 * A failing call is retried on the next tick; `onError` sees it. Calls never overlap.
 */
export function poll (fn: () => Promise<boolean>, ms: number, onError?: (err: unknown) => void): () => void {
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | null = null
  const tick = async (): Promise<void> => {
    timer = null
    let finished = false
    try {
      finished = await fn()
    } catch (err) {
      onError?.(err)
    }
    if (!stopped && !finished) timer = setTimeout(() => { void tick() }, ms)
  }
  void tick()
  return () => {
    stopped = true
    if (timer !== null) clearTimeout(timer)
  }
}

/**
 * Awaits independent operations that run at once, like `Promise.all`, but only settles once every one of them has
 * (then throws the first failure): no write of a failed step goes on after its caller moved on, say after it
 * released a lock.
 */
export async function together<T extends readonly unknown[]> (ops: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(ops as unknown as Array<Promise<unknown>>)
  for (const s of settled) if (s.status === 'rejected') throw s.reason
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T
}

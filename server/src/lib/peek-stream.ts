// Sniffing a stream's first bytes without losing them: uploads pick their format by them, and a batch source's
// parser its encoding and layout (re-exported to plugins by the contracts).

/** Reads ahead until `enough(head)` or the end, and gives the bytes read plus a stream that replays them first. */
export async function peek (src: AsyncIterable<Buffer>, enough: (head: Buffer) => boolean): Promise<{ head: Buffer; stream: AsyncIterable<Buffer> }> {
  const it = src[Symbol.asyncIterator]()
  const parts: Buffer[] = []
  let head: Buffer = Buffer.alloc(0)
  let done = false
  while (!enough(head)) {
    const r = await it.next()
    if (r.done === true) { done = true; break }
    parts.push(r.value)
    head = parts.length === 1 ? r.value : Buffer.concat(parts)
  }
  const first = head
  async function * replay (): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first
    if (done) return
    // yield* hands an early return on to the source, so it is released too
    yield * { [Symbol.asyncIterator]: () => it }
  }
  return { head: first, stream: replay() }
}

/**
 * A problem that stops reading an upload (the file is too large, the client went away or stopped sending, the spool
 * is full, or a file-level problem the source's parser reported): everything stored before it is kept and counted.
 * `code` is an LS_ERR_* code (or a plugin's own code); `line` is where in the file, when known.
 */
export class UploadStop extends Error {
  constructor (readonly code: string, message: string, readonly line: number | null = null) {
    super(message)
  }
}

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

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

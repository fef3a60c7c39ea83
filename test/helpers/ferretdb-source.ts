// FerretDB's own source, as the install step downloads it, for the tests of the install step's patches
// (scripts/ferretdb.mjs): each test patches a scratch copy of the files its patch edits.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
// @ts-expect-error: a plain ES module script without types
import { VERSION } from '../../scripts/ferretdb.mjs'

/** The downloaded FerretDB module's folder, or null where Go or the module proxy is not available. */
export function ferretDbModuleDir (): string | null {
  try {
    const info = JSON.parse(execFileSync('go', ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${VERSION as string}`], { encoding: 'utf8', cwd: tmpdir(), stdio: ['ignore', 'pipe', 'ignore'] })) as { Dir?: string }
    return info.Dir ?? null
  } catch { return null }
}

/** A scratch folder holding copies of `files` (paths inside the module), removed when the test ends. */
export function scratchSource (t: { teardown: (fn: () => void) => void }, moduleDir: string, files: readonly string[]): string {
  const src = mkdtempSync(join(tmpdir(), 'ferret-patch-'))
  t.teardown(() => { rmSync(src, { recursive: true, force: true }) })
  for (const rel of files) {
    mkdirSync(dirname(join(src, rel)), { recursive: true })
    copyFileSync(join(moduleDir, rel), join(src, rel))
  }
  return src
}

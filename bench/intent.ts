// AI intent benchmark. Run from the repository root:
//   npm run bench:intent      (npx tsx --conditions=leadscore-source bench/intent.ts)
// Classifies every hand-labelled lead of fixtures/intent/leads.csv against fixtures/intent/offer.json with
//   (a) the rule fallback   (b) the embedded local model (node-llama-cpp; `npm run intent:model` installs it)
// and prints each one's agreement with the labels, a confusion matrix, and the model's latency per lead (p50/p95).
// Environment: BENCH_INTENT_LEADS (how many leads, default all), BENCH_INTENT_THREADS (default 2),
// BENCH_INTENT_MODEL (a GGUF file, default the installed SmolLM2-135M-Instruct Q4_1).
import { classifyByRules } from '../server/src/domain/intent/rules-fallback.js'
import { createLocalProvider } from '../server/src/domain/intent/local-provider.js'
import { INTENT_LABELS, type IntentLabel } from '../server/src/domain/intent/types.js'
import { ensureModel, loadIntentFixtures } from '../test/helpers/intent.js'

const num = (name: string, def: number): number => {
  const v = process.env[name]
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : def
}

const { offer, leads: all } = loadIntentFixtures()
const leads = all.slice(0, num('BENCH_INTENT_LEADS', all.length))
const pct = (n: number, d: number): string => `${(100 * n / d).toFixed(1)}%`
const quantile = (xs: number[], q: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]! }

function report (name: string, predicted: IntentLabel[]): void {
  const agree = predicted.filter((p, i) => p === leads[i]!.label).length
  // off by one step (High↔Medium, Medium↔Low) versus High↔Low
  const far = predicted.filter((p, i) => Math.abs(INTENT_LABELS.indexOf(p) - INTENT_LABELS.indexOf(leads[i]!.label)) === 2).length
  console.log(`\n${name}: agreement ${agree}/${leads.length} = ${pct(agree, leads.length)}; High↔Low confusions ${far}`)
  console.log('  label \\ predicted   High  Medium  Low')
  for (const l of INTENT_LABELS) {
    const row = INTENT_LABELS.map((p) => predicted.filter((x, i) => x === p && leads[i]!.label === l).length)
    console.log(`  ${l.padEnd(18)} ${row.map((n) => String(n).padStart(5)).join('   ')}`)
  }
  console.log(`  predicted: ${INTENT_LABELS.map((l) => `${l} ${predicted.filter((p) => p === l).length}`).join(', ')}`)
}

console.log(`${leads.length} labelled leads (${INTENT_LABELS.map((l) => `${l} ${leads.filter((x) => x.label === l).length}`).join(', ')}) against "${offer.name}"`)
report('rule fallback (icp-rules-1)', leads.map((l) => classifyByRules(l.profile, offer).intent))

const modelPath = process.env.BENCH_INTENT_MODEL ?? ensureModel()
const provider = createLocalProvider({ modelPath, threads: num('BENCH_INTENT_THREADS', 2) })
const predicted: IntentLabel[] = []
const latencies: number[] = []
let invalid = 0
const loadStarted = performance.now()
await provider.classify(leads[0]!.profile, offer, new AbortController().signal).catch(() => undefined)
console.log(`\nlocal model ${provider.model}: loaded and first answer in ${Math.round(performance.now() - loadStarted)} ms (not counted below)`)
for (const l of leads) {
  const t = performance.now()
  try {
    predicted.push((await provider.classify(l.profile, offer, new AbortController().signal)).intent)
  } catch {
    // an answer that fails the strict parse counts as a disagreement, labelled as the rule fallback would label it
    invalid++
    predicted.push(classifyByRules(l.profile, offer).intent)
  }
  latencies.push(performance.now() - t)
  if (latencies.length % 20 === 0) process.stderr.write(`  … ${latencies.length}/${leads.length} leads\n`)
}
await provider.close?.()
report(`local model ${provider.model}`, predicted)
console.log(`  invalid answers (fell back): ${invalid}`)
console.log(`  latency per lead: p50 ${Math.round(quantile(latencies, 0.5))} ms, p95 ${Math.round(quantile(latencies, 0.95))} ms, max ${Math.round(Math.max(...latencies))} ms (threads ${num('BENCH_INTENT_THREADS', 2)})`)

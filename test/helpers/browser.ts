// The console's browser tests share this: Debian's chromium driven by playwright-core against the built SPA, a fresh
// profile per context (removed at teardown), script errors collected from every watched page, full-page screenshots
// into test-artifacts/console, and sign-in through the form.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

interface Tap { teardown(fn: () => unknown): void }

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const CONSOLE_DIR = join(root, 'console', 'build')
const SHOTS = join(root, 'test-artifacts', 'console')
const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
/** Failed loads the pages are expected to show (an answer the test asks for), not script errors. */
const EXPECTED_4XX = /Failed to load resource: the server responded with a status of 4\d\d/

export interface BrowserOptions {
  viewport: { width: number; height: number }
  /** Playwright's default timeout for every action and wait. */
  timeoutMs: number
  /** Console messages about failed loads that are not errors of the page (default: 4xx answers). */
  expectedFailedLoads?: RegExp
}

export interface ConsoleBrowser {
  context: BrowserContext
  /** The context's first page, watched. */
  page: Page
  /** Script errors and console errors of every watched page, with the page's URL. */
  pageErrors: string[]
  /** Collects a page's script errors into `pageErrors`; returns the page. */
  watch(p: Page): Page
  /** Another context with its own profile (another signed-in user), its first page watched; closed at teardown. */
  newContext(): Promise<{ context: BrowserContext; page: Page }>
  /** A full-page screenshot into test-artifacts/console/<name>.png. */
  shot(p: Page, name: string): Promise<void>
}

/** Fails early, with what to run, when the built console or chromium is missing. */
export function requireConsoleAndBrowser (): void {
  if (!existsSync(join(CONSOLE_DIR, 'index.html'))) throw new Error('console/build is missing: run `npm run build --workspace @leadscore/console`')
  if (!existsSync(CHROMIUM)) throw new Error('chromium is missing: run `apt-get update && apt-get install -y chromium`')
  mkdirSync(SHOTS, { recursive: true })
}

export async function openBrowser (t: Tap, opts: BrowserOptions): Promise<ConsoleBrowser> {
  const expected = opts.expectedFailedLoads ?? EXPECTED_4XX
  const pageErrors: string[] = []
  const watch = (p: Page): Page => {
    p.on('pageerror', (err) => pageErrors.push(`${p.url()}: ${err.message}`))
    p.on('console', (m) => { if (m.type() === 'error' && !expected.test(m.text())) pageErrors.push(`${p.url()}: console: ${m.text()}`) })
    return p
  }
  const newContext = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const profile = mkdtempSync(join(tmpdir(), 'leadscore-chromium-'))
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: opts.viewport })
    t.teardown(async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    })
    context.setDefaultTimeout(opts.timeoutMs)
    return { context, page: watch(context.pages()[0] ?? await context.newPage()) }
  }
  const { context, page } = await newContext()
  const shot = async (p: Page, name: string): Promise<void> => { await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }) }
  return { context, page, pageErrors, watch, newContext, shot }
}

/** Opens `path`, is sent to the sign-in form, signs in as `who` and waits to be back on `path`. */
export async function signIn (page: Page, base: string, who: { email: string; password: string }, path: string): Promise<void> {
  await page.goto(`${base}${path}`)
  await page.waitForURL(/\/sign-in/)
  await page.getByLabel('Email').fill(who.email)
  await page.getByLabel('Password').fill(who.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(`${base}${path}`)
}

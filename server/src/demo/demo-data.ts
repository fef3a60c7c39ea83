import type { EventInput } from '../contracts/index.js'

const DAY = 86_400_000

/** A demo lead as generated: its identity and profile, and how it behaves. */
export interface DemoLead {
  email: string
  name: string
  company: string
  attributes: Record<string, string | number>
}

export interface DemoData {
  leads: DemoLead[]
  events: EventInput[]
  /** Emails of the leads that bought. */
  converted: string[]
}

/** mulberry32: a small seeded generator, so every fresh install gets the same demo. */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const FIRST = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara', 'Edsger', 'Frances', 'Ken', 'Radia', 'Donald', 'Katherine', 'John', 'Hedy', 'Tim', 'Sophie', 'Dennis', 'Annie', 'Niklaus', 'Jean', 'Guido', 'Mary', 'Bjarne', 'Lynn', 'James', 'Karen', 'Leslie', 'Shafi', 'Whitfield', 'Evelyn']
const LAST = ['Lovelace', 'Hopper', 'Torvalds', 'Hamilton', 'Turing', 'Liskov', 'Dijkstra', 'Allen', 'Thompson', 'Perlman', 'Knuth', 'Johnson', 'Backus', 'Lamarr', 'Berners-Lee', 'Wilson', 'Ritchie', 'Easley', 'Wirth', 'Bartik', 'van Rossum', 'Keller', 'Stroustrup', 'Conway', 'Gosling', 'Jones', 'Lamport', 'Goldwasser', 'Diffie', 'Boyd']
const COMPANIES = ['Northwind', 'Contoso', 'Fabrikam', 'Tailspin', 'Adventure Works', 'Wingtip', 'Litware', 'Proseware', 'Lucerne', 'Alpine Ski House', 'Coho', 'Humongous', 'Margie\'s Travel', 'Trey Research', 'Wide World', 'Blue Yonder', 'Woodgrove', 'Relecloud', 'Datum', 'Graphic Design Institute']
// ICP, adjacent (the taxonomy's neighbours of SaaS/Software, plus the offer's FinTech) and other industries
const INDUSTRIES = [['SaaS', 'Software'], ['IT Services', 'FinTech', 'Cloud Computing', 'Data & Analytics'], ['Retail', 'Manufacturing', 'Healthcare', 'Education', 'Logistics & Supply Chain']] as const
const ROLES = [['CTO', 'VP of Sales', 'Head of Marketing', 'Founder', 'Director of Operations', 'CEO'], ['Marketing Manager', 'Engineering Lead', 'Solutions Architect', 'Senior Analyst'], ['Analyst', 'Consultant', 'Coordinator', 'Student']] as const
const LOCATIONS = [['Berlin, Germany', 'DE'], ['London, United Kingdom', 'GB'], ['Paris, France', 'FR'], ['New York, United States', 'US'], ['Austin, United States', 'US'], ['Toronto, Canada', 'CA']] as const
const SOURCES = ['organic', 'paid_search', 'referral', 'webinar', 'linkedin'] as const
const PATHS = ['/', '/blog/lead-scoring-101', '/blog/decay-explained', '/docs', '/docs/api', '/customers', '/features', '/pricing', '/pricing/enterprise'] as const

/** Named leads with a known story, which the README and the start test point at. */
const STORIES: Array<DemoLead & { story: 'buyer' | 'hot' | 'quiet' }> = [
  { email: 'grace.hopper@contoso.example', name: 'Grace Hopper', company: 'Contoso', story: 'buyer', attributes: { role: 'VP of Engineering', industry: 'SaaS', employees: 2300, location: 'New York, United States', country: 'US', source: 'webinar', linkedin_bio: 'Runs engineering for a B2B SaaS platform' } },
  { email: 'ada.lovelace@northwind.example', name: 'Ada Lovelace', company: 'Northwind', story: 'hot', attributes: { role: 'CTO', industry: 'Software', employees: 420, location: 'London, United Kingdom', country: 'GB', source: 'paid_search', linkedin_bio: 'CTO; building analytics products' } },
  { email: 'linus.torvalds@fabrikam.example', name: 'Linus Torvalds', company: 'Fabrikam', story: 'quiet', attributes: { role: 'Analyst', industry: 'Manufacturing', employees: 850, location: 'Berlin, Germany', country: 'DE', source: 'referral' } },
]

/**
 * Generates the demo: named leads with a known story plus `count` generated ones, with events over the past eight
 * weeks (all in the past, relative to `nowMs`). A lead's fit (ICP industry, decision-maker role) makes demo requests
 * and purchases likelier, so the rules and a trained model have something real to find.
 */
export function demoData (nowMs: number, count = 150, seed = 17): DemoData {
  const r = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const tier = (weights: readonly number[]): number => { let x = r(); for (let i = 0; i < weights.length; i++) { x -= weights[i]!; if (x < 0) return i } return weights.length - 1 }
  const leads: DemoLead[] = []
  const events: EventInput[] = []
  const converted: string[] = []
  let n = 0
  // no event later than ten minutes ago: ingest refuses future times, and trends end at now
  const latest = nowMs - 10 * 60_000
  const at = (daysAgo: number): string => new Date(Math.min(latest, nowMs - daysAgo * DAY)).toISOString()
  const add = (l: DemoLead, type: string, daysAgo: number, properties: Record<string, unknown> = {}): void => {
    events.push({ externalId: `demo-${n++}`, lead: { email: l.email, name: l.name, company: l.company, attributes: l.attributes }, type, occurredAt: at(daysAgo), properties })
  }
  const browse = (l: DemoLead, from: number, to: number, perWeek: number, pricing: number): void => {
    const k = Math.max(1, Math.round((from - to) / 7 * perWeek))
    for (let i = 0; i < k; i++) {
      const d = to + r() * (from - to)
      const u = r()
      if (u < 0.55) {
        const seconds = Math.round(10 + r() * 240)
        // one page view in fifty from an older tracker, which sends the time as text: the tracking plan flags it
        add(l, 'page_view', d, { path: r() < pricing ? pick(PATHS.slice(7)) : pick(PATHS.slice(0, 7)), timeOnSite: r() < 0.02 ? `${seconds}s` : seconds })
      } else if (u < 0.85) add(l, 'email_open', d, { campaign: pick(['newsletter', 'product-update', 'case-study']) })
      else if (u < 0.95) add(l, 'form_submit', d, { form: pick(['ebook', 'newsletter', 'contact']) })
      else add(l, 'webinar_attended', d, { webinar: 'Scoring leads with events' })
    }
  }

  for (const s of STORIES) {
    const { story, ...l } = s
    leads.push(l)
    if (story === 'buyer') {
      browse(l, 52, 30, 4, 0.3)
      add(l, 'demo_request', 29, { form: 'demo' })
      add(l, 'purchase', 22, { plan: 'enterprise', amount: 24_000 })
      converted.push(l.email)
      browse(l, 20, 1, 2, 0.1)
    } else if (story === 'hot') {
      browse(l, 35, 2, 5, 0.35)
      add(l, 'demo_request', 2, { form: 'demo' })
    } else {
      // active six weeks ago, silent since: decay has taken its share of engagement
      browse(l, 56, 40, 4, 0.05)
    }
  }

  for (let i = 0; i < count; i++) {
    const ind = tier([0.35, 0.25, 0.4])
    const role = tier([0.35, 0.35, 0.3])
    const [location, country] = pick(LOCATIONS)
    // offset by three: the named leads above keep their names to themselves
    const first = FIRST[(i + 3) % FIRST.length]!
    const last = LAST[(i * 7 + Math.floor(i / FIRST.length)) % LAST.length]!
    const company = `${pick(COMPANIES)} ${pick(['Labs', 'Group', 'Systems', 'Partners', 'Inc'])}`
    const attributes: Record<string, string | number> = {
      role: pick(ROLES[role]!), industry: pick(INDUSTRIES[ind]!), employees: Math.round(Math.exp(2.3 + r() * 6.2)), location, country, source: pick(SOURCES),
    }
    if (r() < 0.6) attributes.linkedin_bio = `${attributes.role as string} at ${company}`
    const l: DemoLead = { email: `${first}.${last}.${i}@${company.split(' ')[0]!.toLowerCase().replace(/[^a-z]/g, '')}.example`.toLowerCase().replace(/\s+/g, '-'), name: `${first} ${last}`, company, attributes }
    leads.push(l)
    const fit = (2 - ind) + (2 - role) // 0..4
    const start = 8 + r() * 52
    const span = Math.min(start, 7 + r() * 35)
    const end = start - span
    const perWeek = 1 + r() * 3 + fit * 0.6
    browse(l, start, end, perWeek, 0.08 + fit * 0.05)
    if (r() < 0.03) add(l, pick(['email_bounced', 'marked_spam', 'unsubscribed']), end)
    if (r() < 0.1 + fit * 0.14) {
      const demo = end + r() * span * 0.5
      add(l, 'demo_request', demo, { form: 'demo' })
      if (r() < 0.3 + fit * 0.1) {
        const bought = demo - 2 - r() * 10
        if (bought > 0.5) {
          add(l, 'purchase', bought, { plan: pick(['team', 'business', 'enterprise']), amount: pick([3_600, 9_600, 24_000]) })
          converted.push(l.email)
        }
      }
    }
  }
  // stored in time order, as a source would deliver history
  events.sort((a, b) => a.occurredAt! < b.occurredAt! ? -1 : a.occurredAt! > b.occurredAt! ? 1 : 0)
  return { leads, events, converted }
}

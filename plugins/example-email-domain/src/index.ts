/**
 * An example third-party Leadscore scoring plugin: the quality of a lead's email domain. A business domain earns fit
 * points, a free-mail domain (gmail.com, outlook.com…) none by default, a disposable one (mailinator.com…) loses
 * some. The domain lists come from two maintained npm packages, `email-providers` and `disposable-email-domains`,
 * read once when the plugin is imported: nothing is looked up while an event is scored.
 *
 * It shows the three things a scoring plugin can give the rules engine: contributions (`score`), a fact rules read
 * (`plugin.email_domain.kind`) and an operator rules use (`email_domain.kind_is`). It is built only on
 * `@leadscore/server/contracts` and TypeBox, as every plugin must be.
 */
import { createRequire } from 'node:module'
import { Type, type Static } from '@sinclair/typebox'
import { defineScoringPlugin, type Contribution, type ScoringInput } from '@leadscore/server/contracts'

const require = createRequire(import.meta.url)
// both lists are plain JSON arrays of lower-case domains, shipped inside the packages (nothing is fetched at install)
const DISPOSABLE: ReadonlySet<string> = new Set(require('disposable-email-domains') as string[])
const FREE: ReadonlySet<string> = new Set(require('email-providers/all.json') as string[])

/** The plugin's configuration (a scoring plugin runs with its schema's defaults). */
export const EmailDomainConfig = Type.Object({
  businessPoints: Type.Integer({ default: 10, minimum: -1000, maximum: 1000, description: 'fit points for a business domain' }),
  freePoints: Type.Integer({ default: 0, minimum: -1000, maximum: 1000, description: 'fit points for a free-mail domain' }),
  disposablePoints: Type.Integer({ default: -25, minimum: -1000, maximum: 1000, description: 'fit points for a disposable domain' }),
}, { additionalProperties: false })
type Config = Static<typeof EmailDomainConfig>

/** What kind of address an email is. */
export type DomainKind = 'business' | 'free' | 'disposable'

/** The lower-case domain of an email address, or null when it has none. */
export function emailDomain (email: unknown): string | null {
  if (typeof email !== 'string') return null
  const at = email.lastIndexOf('@')
  if (at < 1 || at === email.length - 1) return null
  return email.slice(at + 1).trim().toLowerCase().replace(/\.$/, '')
}

/**
 * The kind of a domain. Disposable wins over free (some providers are on both lists); a subdomain of a listed
 * domain (`eu.mailinator.com`) counts as that domain.
 */
export function domainKind (domain: string): DomainKind {
  if (listed(DISPOSABLE, domain)) return 'disposable'
  if (listed(FREE, domain)) return 'free'
  return 'business'
}

function listed (list: ReadonlySet<string>, domain: string): boolean {
  let d = domain
  for (;;) {
    if (list.has(d)) return true
    const dot = d.indexOf('.')
    // stop before a bare top-level domain: `com` is on no list, and must not match by accident
    if (dot < 0 || d.indexOf('.', dot + 1) < 0) return false
    d = d.slice(dot + 1)
  }
}

const RULE: Record<DomainKind, string> = { business: 'business', free: 'free_mail', disposable: 'disposable' }
const LABEL: Record<DomainKind, string> = { business: 'Business email domain', free: 'Free-mail address', disposable: 'Disposable email address' }

function pointsFor (kind: DomainKind, config: Config): number {
  return kind === 'business' ? config.businessPoints : kind === 'free' ? config.freePoints : config.disposablePoints
}

function kindOf (input: ScoringInput): DomainKind | null {
  const domain = emailDomain(input.lead.email)
  return domain === null ? null : domainKind(domain)
}

export const plugin = defineScoringPlugin({
  kind: 'scoring',
  manifest: { id: 'email_domain', version: '1.0.0', contract: 1, config: EmailDomainConfig },

  // Once per lead (a limit of one firing per rule id): fit describes who the lead is, not what it does.
  score (input, ctx): Contribution[] {
    const domain = emailDomain(input.lead.email)
    if (domain === null) return []
    const kind = domainKind(domain)
    const points = pointsFor(kind, ctx.config)
    if (points === 0) return []
    return [{ ruleId: RULE[kind], action: 'add', dimension: 'fit', points, reason: `${LABEL[kind]} (${domain})`, limit: { count: 1 } }]
  },

  facts: {
    kind: {
      type: 'string',
      doc: 'Kind of the lead\'s email domain: `business`, `free` or `disposable` (empty without an email).',
      compute: (input) => kindOf(input),
    },
    domain: {
      type: 'string',
      doc: 'The lead\'s email domain, lower case.',
      compute: (input) => emailDomain(input.lead.email),
    },
  },

  operators: {
    // `{ fact: 'lead', path: 'email', operator: 'email_domain.kind_is', value: 'free' }`
    kind_is: (email, kind) => {
      const domain = emailDomain(email)
      return domain !== null && typeof kind === 'string' && domainKind(domain) === kind
    },
  },
})

export default plugin

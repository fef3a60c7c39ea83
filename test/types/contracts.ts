// Compile-time checks of the plugin contracts (type-checked with the tests, never run).
import { Type } from '@sinclair/typebox'
import { defineSourcePlugin, defineScoringPlugin, SourceAuthError, TransientSourceError, type EventInput, type PluginContext } from '../../server/src/contracts/index.js'

const config = Type.Object({ token: Type.String(), every: Type.String({ default: '5m' }) }, { additionalProperties: false })

// ctx.config is inferred from the manifest's schema
defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'typed', version: '1.0.0', contract: 1, config, secrets: ['token'] },
  generateSecret: () => null,
  checkConfig: (c) => c.token.length < 8 ? ['token too short'] : [],
  http: {
    routes: [{
      method: 'POST',
      url: '/in',
      async verify (req, ctx) {
        const token: string = ctx.config.token
        if (!ctx.secrets('token').includes(String(req.headers['x-token']))) throw new SourceAuthError('no', { code: 'TYPED_ERR_TOKEN' })
        // @ts-expect-error config keys are typed
        void ctx.config.nope
        void token
      },
      async handle (req) {
        const raw: Buffer = req.rawBody
        void raw
        return [{ lead: { email: 'a@example.com' }, type: 'page_view' }]
      },
    }],
  },
  poll: {
    every: (c) => c.every,
    async fetch (cursor, ctx: PluginContext<{ token: string; every: string }>) {
      if (cursor === null) throw new TransientSourceError('later', { retryAfterMs: 1000 })
      await ctx.state.set('k', 'v')
      return { events: [], cursor, more: false }
    },
  },
})

defineSourcePlugin({
  // @ts-expect-error kind must be 'source'
  kind: 'scoring',
  manifest: { id: 'x', version: '1.0.0', contract: 1, config },
})

defineSourcePlugin({
  kind: 'source',
  // @ts-expect-error the contract version is a literal
  manifest: { id: 'x', version: '1.0.0', contract: 2, config },
  batch: { accepts: ['text/csv'], async * parse () { yield { lead: { email: 'a@example.com' }, type: 'x' } } },
})

defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'x', version: '1.0.0', contract: 1, config },
  http: {
    routes: [{
      // @ts-expect-error only POST and PUT
      method: 'GET',
      url: '/in',
      async handle () { return [] },
    }],
  },
})

// @ts-expect-error an event needs a lead and a type
const bad: EventInput = { type: 'x' }
void bad

defineScoringPlugin({
  kind: 'scoring',
  manifest: { id: 'score_x', version: '1.0.0', contract: 1, config: Type.Object({ bonus: Type.Integer({ default: 5 }) }) },
  score: (input, ctx) => input.lead.company !== null ? [{ ruleId: 'company', action: 'add', dimension: 'fit', points: ctx.config.bonus }] : [],
})

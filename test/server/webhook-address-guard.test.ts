// The outbound webhook address guard and IPv6 addresses that embed an IPv4 one: IPv4-mapped (also in its hex form,
// which is how URLs print it), IPv4-compatible, IPv4-translated, NAT64, 6to4 and Teredo addresses are judged by the
// embedded IPv4 address, so none of them reaches loopback, private or link-local hosts; public ones stay allowed.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { isPrivateAddress, postWebhook, webhookUrlProblem } from '../../server/src/domain/webhooks/send.js'
import { embeddedIPv4 } from '../../server/src/lib/embedded-ipv4.js'

// [address, the IPv4 address it embeds]
const REFUSED: Array<[string, string]> = [
  ['::ffff:127.0.0.1', '127.0.0.1'], ['::ffff:7f00:1', '127.0.0.1'], ['::ffff:a9fe:a9fe', '169.254.169.254'], ['::ffff:c0a8:101', '192.168.1.1'],
  ['::127.0.0.1', '127.0.0.1'], ['::7f00:1', '127.0.0.1'], ['::a00:1', '10.0.0.1'], ['::a9fe:a9fe', '169.254.169.254'],
  ['::ffff:0:a00:1', '10.0.0.1'],
  ['64:ff9b::7f00:1', '127.0.0.1'], ['64:ff9b::10.0.0.1', '10.0.0.1'], ['64:ff9b::a9fe:a9fe', '169.254.169.254'], ['64:ff9b::ac10:1', '172.16.0.1'],
  ['2002:7f00:1::', '127.0.0.1'], ['2002:a00:1::1', '10.0.0.1'], ['2002:a9fe:a9fe::1', '169.254.169.254'], ['2002:c0a8:101:1::1', '192.168.1.1'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', '127.0.0.1'],
]
const ALLOWED: Array<[string, string | null]> = [
  ['::ffff:808:808', '8.8.8.8'], ['64:ff9b::808:808', '8.8.8.8'], ['2002:808:808::1', '8.8.8.8'], ['2606:4700:4700::1111', null],
]

t.test('embedded IPv4 addresses are extracted and judged by the IPv4 rules', async (t) => {
  for (const [ip, v4] of REFUSED) {
    t.equal(embeddedIPv4(ip), v4, `${ip} embeds ${v4}`)
    t.equal(isPrivateAddress(ip), true, `${ip} is refused like ${v4}`)
    t.match(webhookUrlProblem(`https://[${ip}]/hook`, false), /private or loopback/, `a URL naming ${ip} is refused`)
    t.equal(webhookUrlProblem(`https://[${ip}]/hook`, true), null, `${ip} is allowed with LEADSCORE_WEBHOOKS_ALLOW_PRIVATE`)
  }
  for (const [ip, v4] of ALLOWED) {
    t.equal(embeddedIPv4(ip), v4, `${ip} embeds ${v4 ?? 'nothing'}`)
    t.equal(isPrivateAddress(ip), false, `${ip} is public`)
    t.equal(webhookUrlProblem(`https://[${ip}]/hook`, false), null, `a URL naming ${ip} is accepted`)
  }
  t.equal(isPrivateAddress('fe80::1%eth0'), true, 'a link-local address with a zone')
  t.equal(isPrivateAddress('::1'), true, 'IPv6 loopback')
  t.equal(isPrivateAddress('not-an-address'), false)
})

t.test('the API refuses receivers at such addresses; a delivery attempt to one never connects', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '0' }, { startWorkers: false })
  for (const [ip, v4] of REFUSED) {
    const res = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: AUTH, payload: { url: `http://[${ip}]:8080/hook`, events: ['lead.stage_changed'] } })
    t.equal(res.statusCode, 400, `${ip} (${v4}) refused`)
    t.match(res.json(), { code: 'LS_ERR_WEBHOOK_URL_INVALID' })
  }
  const ok = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: AUTH, payload: { url: 'http://[64:ff9b::808:808]/hook', events: ['lead.stage_changed'] } })
  t.equal(ok.statusCode, 201, 'a NAT64 address of a public host is accepted')
  const moved = await app.inject({ method: 'PATCH', url: `/v1/webhooks/${ok.json().id as string}`, headers: AUTH, payload: { url: 'http://[2002:7f00:1::]/hook' } })
  t.equal(moved.statusCode, 400, 'a change of URL to a 6to4 address of loopback is refused')
  t.match(moved.json(), { code: 'LS_ERR_WEBHOOK_URL_INVALID' })

  // a receiver listening on this host is not reached through the embedded forms of its loopback address
  let hits = 0
  const receiver = http.createServer((_req, res) => { hits++; res.end('ok') })
  await new Promise<void>((resolve) => receiver.listen(0, '::', resolve))
  t.teardown(() => { receiver.close() })
  const port = (receiver.address() as AddressInfo).port
  for (const ip of ['::ffff:7f00:1', '::7f00:1', '64:ff9b::7f00:1', '2002:7f00:1::']) {
    const r = await postWebhook({ url: `http://[${ip}]:${port}/hook`, headers: {}, body: '{}', timeoutMs: 2000, allowPrivate: false })
    t.match(r, { statusCode: null, error: /^refused: / }, `${ip}: refused before connecting`)
  }
  t.equal(hits, 0, 'nothing reached the local server')
})

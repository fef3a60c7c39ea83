// The outbound address guard shared by webhooks and polled sources: which addresses count as private (loopback,
// private, link-local, reserved, and IPv6 forms that embed such an IPv4 address), which host names are local, and a
// resolution that refuses a name when any of its addresses is private (the checked address is the one to connect to).
import { lookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { embeddedIPv4 } from './embedded-ipv4.js'

const PRIVATE = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) PRIVATE.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) PRIVATE.addSubnet(net, prefix, 'ipv6')

/**
 * true for loopback, private, link-local, shared, documentation, multicast and reserved addresses. An IPv6 address
 * that embeds an IPv4 one (IPv4-mapped or -compatible, NAT64, 6to4, Teredo) is refused when the embedded address is.
 */
export function isPrivateAddress (ip: string): boolean {
  const family = isIP(ip)
  if (family === 4) return PRIVATE.check(ip, 'ipv4')
  if (family !== 6) return false
  const v4 = embeddedIPv4(ip)
  return (v4 !== null && PRIVATE.check(v4, 'ipv4')) || PRIVATE.check(ip, 'ipv6')
}

/** Why a host (name or address literal, IPv6 with or without brackets) is refused before any lookup, or null. */
export function localHostProblem (rawHost: string): string | null {
  const host = rawHost.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal')) return `the host '${host}' is a local name`
  if (isIP(host) !== 0 && isPrivateAddress(host)) return `the address ${host} is private or loopback`
  return null
}

export type ResolvedHost = { ok: true; address: string; family: 4 | 6 } | { ok: false; problem: string; lookupFailed: boolean }

/**
 * Resolves a host to the address to connect to. Unless `allowPrivate`, a local name, a private address literal, or
 * a name with any private address among its addresses is refused (all of them are checked: a client may try each).
 */
export async function resolvePublicHost (rawHost: string, allowPrivate: boolean): Promise<ResolvedHost> {
  const host = rawHost.replace(/^\[|\]$/g, '')
  if (!allowPrivate) {
    const problem = localHostProblem(host)
    if (problem !== null) return { ok: false, problem, lookupFailed: false }
  }
  const family = isIP(host)
  if (family !== 0) return { ok: true, address: host, family: family as 4 | 6 }
  let addresses: Array<{ address: string; family: number }>
  try {
    addresses = await lookup(host, { all: true })
  } catch (err) {
    return { ok: false, problem: `the host '${host}' could not be resolved (${(err as NodeJS.ErrnoException).code ?? 'error'})`, lookupFailed: true }
  }
  if (addresses.length === 0) return { ok: false, problem: `the host '${host}' has no address`, lookupFailed: true }
  if (!allowPrivate) {
    const bad = addresses.find((a) => isPrivateAddress(a.address))
    if (bad !== undefined) return { ok: false, problem: `the host '${host}' resolves to the private address ${bad.address}`, lookupFailed: false }
  }
  return { ok: true, address: addresses[0]!.address, family: addresses[0]!.family === 6 ? 6 : 4 }
}

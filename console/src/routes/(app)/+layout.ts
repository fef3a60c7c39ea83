import { redirect } from '@sveltejs/kit'
import { session } from '$lib/managers/session-manager.svelte.js'
import type { LayoutLoad } from './$types'

// every console page needs a signed-in user
export const load: LayoutLoad = async ({ url }) => {
  await session.load()
  if (session.status !== 'signed-in') redirect(307, `/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`)
  return {}
}

// An authenticated admin tool: rendered in the browser only, from the single fallback page.
export const ssr = false
export const prerender = false
export const trailingSlash = 'never'

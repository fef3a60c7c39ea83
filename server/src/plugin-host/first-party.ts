/**
 * The plugin packages the product ships with. The host imports them by package name exactly as it imports those
 * named in LEADSCORE_PLUGINS (one loader, one contract), so the server's core holds no source's code: a built-in
 * source is a package under plugins/ like any third party's.
 */
export const FIRST_PARTY_PLUGINS: readonly string[] = [
  '@leadscore/plugin-source-webhook',
  '@leadscore/plugin-source-segment',
  '@leadscore/plugin-source-imap',
  '@leadscore/plugin-source-upload',
]

/** The packages to import at boot: the first-party ones, then the configured ones (a package named twice once). */
export function pluginPackages (configured: readonly string[]): string[] {
  return [...new Set([...FIRST_PARTY_PLUGINS, ...configured])]
}

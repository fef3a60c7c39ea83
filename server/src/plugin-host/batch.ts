import { Value } from '@sinclair/typebox/value'
import type { BatchFile, SourcePlugin } from '../contracts/index.js'
import type { ContextFactory } from './context.js'
import type { PluginRegistry } from './registry.js'
import type { BatchReaders } from '../domain/uploads/upload-service.js'

/** The media type of a Content-Type value: lower case, without parameters. */
export function mediaType (value: string | null | undefined): string {
  return (value ?? '').split(';')[0]!.trim().toLowerCase()
}

/** An installed source's `batch`, ready for the upload service: it parses a file for one upload source id. */
export interface BatchReader {
  pluginId: string
  accepts: readonly string[]
  parse(input: AsyncIterable<Uint8Array>, sourceId: string, file: BatchFile): AsyncIterable<unknown>
}

/**
 * The batch readers of the installed sources, in registry order (first-party first): an upload goes to the first
 * whose `accepts` lists its media type. An upload is not a stored instance: the context has the upload's source id
 * (`upload` or `upload:<label>`) as instance id and the plugin's config defaults, like a scoring plugin's.
 */
export function createBatchReaders (registry: PluginRegistry, contexts: ContextFactory): BatchReaders {
  const readers: BatchReader[] = []
  for (const plugin of registry.sources.values()) {
    const batch = (plugin as SourcePlugin).batch
    if (batch === undefined) continue
    const pluginId = plugin.manifest.id
    const config = Value.Default(plugin.manifest.config, {}) as unknown
    readers.push({
      pluginId,
      accepts: batch.accepts.map((a) => mediaType(a)),
      parse: (input, sourceId, file) => batch.parse(input, contexts.context({ instanceId: sourceId, pluginId, config, secrets: () => [] }), file),
    })
  }
  return {
    forType: (type) => readers.find((r) => r.accepts.includes(mediaType(type))) ?? null,
    types: () => [...new Set(readers.flatMap((r) => r.accepts))],
  }
}

import type { SourcePlugin } from '../contracts/index.js'
import { webhookSource } from './webhook/index.js'
import { segmentSource } from './segment/index.js'
import { imapSource } from './imap/index.js'

/** The source plugins that ship with the server. Each is written against the public contracts only. */
export const FIRST_PARTY_SOURCES: readonly SourcePlugin[] = [webhookSource, segmentSource, imapSource] as unknown as SourcePlugin[]

// An event's properties, and the lead attributes it carries, as events store them: packed in one BSON binary value
// each. No query reads inside them, and the embedded database stores a structured value with a type schema for every
// field, nested object and array element, so packed they take far less space and events are inserted and read faster
// for it. Events stored before hold plain objects, read as they are.
import { Binary } from 'mongodb'
import { pack, unpack } from '../../infra/packed.js'
import type { StoredProperties } from '../types.js'

/** Properties or attributes (key-encoded) as an event stores them. */
export function packProperties (properties: Record<string, unknown>): Binary {
  return pack(properties)
}

/** The properties or attributes (still key-encoded) a stored event holds; none when absent. */
export function unpackProperties (stored: StoredProperties | undefined): Record<string, unknown> {
  if (stored === undefined || stored === null) return {}
  if (!(stored instanceof Binary)) return stored
  return unpack(stored)
}

// A document stored as one BSON binary value, for nested values no query reads: the embedded database stores a
// structured value with a type schema for every field and array element, so such values cost far more stored
// whole than packed. What packs which value, and how it reads values stored before, is up to its module.
import { BSON, Binary, type Document } from 'mongodb'

/** The document as one binary value (throws a RangeError or BSONError past BSON's size limit). */
export function pack (doc: Document): Binary {
  return new Binary(BSON.serialize(doc))
}

/** The document a packed value holds. */
export function unpack<T extends Document> (packed: Binary): T {
  return BSON.deserialize(packed.buffer.subarray(0, packed.position)) as T
}

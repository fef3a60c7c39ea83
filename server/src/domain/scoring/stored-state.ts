// A score state as leads and ledger entries store it. The embedded database stores a structured value with a type
// schema for every field and every array element, and a state's rule firings, activity and fit are nested objects
// and arrays of objects that no query reads: packed into one BSON binary value they take a third of the space, and a
// lead document, read and rewritten at every batch, is read and written faster for it. The scores, stage, grade and
// decay fields stay plain, readable as they were.
import { pack, unpack } from '../../infra/packed.js'
import type { PackedStateField, ScoreState, StoredState } from '../types.js'

type Packed = Partial<Pick<ScoreState, PackedStateField>>

/** The state as stored. */
export function storeState (s: ScoreState): StoredState {
  const { fired, entered, activity, fitHeld, fitAttributes, ...rest } = s
  const packed: Packed = { fired }
  if (entered !== undefined) packed.entered = entered
  if (activity !== undefined) packed.activity = activity
  if (fitHeld !== undefined) packed.fitHeld = fitHeld
  if (fitAttributes !== undefined) packed.fitAttributes = fitAttributes
  return { ...rest, packed: pack(packed) }
}

/** The state a stored one holds (one stored before states were packed is whole already). */
export function loadState (s: StoredState): ScoreState {
  if (s.packed === undefined) return s as unknown as ScoreState
  const { packed, ...rest } = s
  return { ...rest, ...unpack<Packed>(packed) } as ScoreState
}

import { Type, type Static } from '@sinclair/typebox'

export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('author'), Type.Literal('viewer')], {
  description: 'admin: everything; author: read, ingest and change rulesets; viewer: read only',
})

/** A console user (the password hash is never returned). */
export const User = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  disabled: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  lastLoginAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})
export type UserT = Static<typeof User>

const Password = Type.String({ minLength: 8, maxLength: 200 })

export const LoginBody = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 200 }),
}, { additionalProperties: false })
export type LoginBodyT = Static<typeof LoginBody>

/** The signed-in user and what they may do. */
export const SessionInfo = Type.Object({
  user: User,
  scopes: Type.Array(Type.String()),
  expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
})
export type SessionInfoT = Static<typeof SessionInfo>

export const UserCreate = Type.Object({
  email: Type.String({ minLength: 3, maxLength: 254 }),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  role: RoleSchema,
  password: Password,
}, { additionalProperties: false })
export type UserCreateT = Static<typeof UserCreate>

export const UserPatch = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 200 })),
  role: Type.Optional(RoleSchema),
  password: Type.Optional(Password),
  disabled: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })
export type UserPatchT = Static<typeof UserPatch>

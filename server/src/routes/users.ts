import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams } from '../schemas/common.js'
import { User, UserCreate, UserPatch } from '../schemas/users.js'
import { userOut } from '../domain/auth/users.js'

/** Console users (admin only). */
const usersRoutes: FastifyPluginAsyncTypebox = async function usersRoutes (app) {
  const { core } = app
  const audit = core.audit
  const conflict = { 409: Type.Ref('ProblemDetails') }

  app.get('/v1/users', {
    config: { scope: 'admin' },
    schema: { tags: ['auth'], summary: 'Console users', response: { 200: Type.Object({ items: Type.Array(User) }), ...problemResponses } },
  }, async () => ({ items: (await core.users.list()).map(userOut) }))

  app.post('/v1/users', {
    config: { scope: 'admin' },
    schema: { tags: ['auth'], summary: 'Create a console user', body: UserCreate, response: { 201: User, ...conflict, ...problemResponses } },
  }, async (req, reply) => {
    const u = await core.users.create(req.body)
    await audit.record(req.principal!.name, 'user.create', u._id, { email: u.email, role: u.role })
    return reply.code(201).send(userOut(u))
  })

  app.patch('/v1/users/:id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['auth'], summary: 'Change a user\'s name, role or password, or disable them (a new password or disabling ends their sessions)',
      params: IdParams, body: UserPatch, response: { 200: User, ...conflict, ...problemResponses },
    },
  }, async (req) => {
    const u = await core.users.update(req.params.id, req.body)
    const fields = Object.keys(req.body)
    await audit.record(req.principal!.name, 'user.update', u._id, { fields, ...(req.body.role !== undefined ? { role: req.body.role } : {}) })
    return userOut(u)
  })

  app.delete('/v1/users/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['auth'], summary: 'Delete a user and end their sessions', params: IdParams, response: { 204: Type.Null(), ...conflict, ...problemResponses } },
  }, async (req, reply) => {
    const u = await core.users.remove(req.params.id)
    await audit.record(req.principal!.name, 'user.delete', u._id, { email: u.email })
    return reply.code(204).send(null)
  })
}

export default usersRoutes

import type { FastifyInstance } from 'fastify'

export const tags = ['multipart uploads']

/** Multipart routes need the storage client; fail at startup, not on the first request, if it is missing. */
export function assertMultipart (app: FastifyInstance): void {
  if (!app.hasDecorator('multipart')) throw new Error('multipart routes need the multipart plugin (src/storage/plugin.ts) registered first')
}

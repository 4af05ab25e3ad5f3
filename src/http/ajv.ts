import type { FastifyServerOptions } from 'fastify'
import { isValidFilename, isValidObjectKey } from '../signing/object-key.js'

type AjvPlugin = NonNullable<NonNullable<Extract<FastifyServerOptions['ajv'], { plugins?: unknown }>['plugins']>>[number]

/** Adds the custom string formats the route schemas use. */
const registerFormats = ((ajv: { addFormat: (name: string, format: object) => unknown }) => {
  ajv.addFormat('object-key', { type: 'string', validate: isValidObjectKey })
  ajv.addFormat('filename', { type: 'string', validate: isValidFilename })
  return ajv
}) as unknown as AjvPlugin

/**
 * Fastify's Ajv options: unknown fields are an error (not silently dropped), types are
 * not coerced (`{"key": 123}` is a 400, not the key "123"), plus our formats.
 */
export const ajvOptions: FastifyServerOptions['ajv'] = {
  customOptions: { removeAdditional: false, coerceTypes: false },
  plugins: [registerFormats]
}

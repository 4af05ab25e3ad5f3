import type { FastifyServerOptions } from 'fastify'
import { Ajv, type ValidateFunction } from 'ajv'
import { isValidFilename, isValidObjectKey } from '../schemas/object-key.js'

type AjvPlugin = NonNullable<NonNullable<Extract<FastifyServerOptions['ajv'], { plugins?: unknown }>['plugins']>>[number]

/**
 * Schema annotation naming the problem code a value's failure answers instead of
 * INVALID_REQUEST (`Type.String({ …, errorCode: 'INVALID_KEY' })`); read by the error
 * handler, left out of the OpenAPI document.
 */
export const ERROR_CODE_KEYWORD = 'errorCode'

/** Adds the custom string formats the route schemas use, and the errorCode annotation. */
const addFormatsAndKeyword = (ajv: { addFormat: (name: string, format: object) => unknown, addKeyword: (definition: object) => unknown }) => {
  ajv.addFormat('object-key', { type: 'string', validate: isValidObjectKey })
  ajv.addFormat('filename', { type: 'string', validate: isValidFilename })
  ajv.addKeyword({ keyword: ERROR_CODE_KEYWORD, schemaType: 'string' })
  return ajv
}
const registerFormats = addFormatsAndKeyword as unknown as AjvPlugin

/**
 * Fastify's Ajv options: unknown fields are an error (not silently dropped), types are
 * not coerced (`{"key": 123}` is a 400, not the key "123"), plus our formats. `verbose`
 * gives each error its schema, where the error handler finds `errorCode`.
 */
export const ajvOptions = {
  customOptions: { removeAdditional: false, coerceTypes: false, verbose: true },
  plugins: [registerFormats]
} satisfies FastifyServerOptions['ajv']

/**
 * Validators outside Fastify's route validation, with the same rules (no coercion, unknown fields
 * refused, our formats, errorCode, verbose errors for the error handler): for the items of a batch,
 * each validated on its own (src/routes/v1/batch.ts).
 */
export function createValidatorCompiler (): (schema: object) => ValidateFunction {
  const ajv = new Ajv({ ...ajvOptions.customOptions, allErrors: false, strict: false, addUsedSchema: false })
  addFormatsAndKeyword(ajv as unknown as Parameters<typeof addFormatsAndKeyword>[0])
  return (schema) => ajv.compile(schema)
}

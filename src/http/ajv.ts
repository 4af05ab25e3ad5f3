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

/**
 * Schema annotation saying in words what a `pattern` or `format` asks for
 * (`mustBe: 'a base64 MD5: 22 characters then "=="'`), so that a failure never quotes a
 * regular expression; read by the error handler, left out of the OpenAPI document.
 */
export const MUST_BE_KEYWORD = 'mustBe'

/** The annotations the error handler reads and the OpenAPI document leaves out. */
export const ANNOTATION_KEYWORDS: readonly string[] = [ERROR_CODE_KEYWORD, MUST_BE_KEYWORD]

/** Adds the custom string formats the route schemas use, and the errorCode and mustBe annotations. */
const addFormatsAndKeywords = (ajv: { addFormat: (name: string, format: object) => unknown, addKeyword: (definition: object) => unknown }) => {
  ajv.addFormat('object-key', { type: 'string', validate: isValidObjectKey })
  ajv.addFormat('filename', { type: 'string', validate: isValidFilename })
  ajv.addKeyword({ keyword: ERROR_CODE_KEYWORD, schemaType: 'string' })
  ajv.addKeyword({ keyword: MUST_BE_KEYWORD, schemaType: 'string' })
  return ajv
}
const registerFormats = addFormatsAndKeywords as unknown as AjvPlugin

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
 * refused, our formats and annotations, verbose errors for the error handler): for the items of a
 * batch, each validated on its own (src/routes/v1/batch.ts).
 */
export function createValidatorCompiler (): (schema: object) => ValidateFunction {
  const ajv = new Ajv({ ...ajvOptions.customOptions, allErrors: false, strict: false, addUsedSchema: false })
  addFormatsAndKeywords(ajv as unknown as Parameters<typeof addFormatsAndKeywords>[0])
  return (schema) => ajv.compile(schema)
}

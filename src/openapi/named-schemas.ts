import { isDeepStrictEqual } from 'node:util'
import type { FastifySchema } from 'fastify'

/**
 * Named OpenAPI components from the route schemas' `$id`s.
 *
 * Routes keep their TypeBox schemas inline (so the type provider infers
 * `request.body` and validation is exactly what Fastify's Ajv compiles); a
 * schema that carries an `$id` (`Type.Object({…}, { $id: 'UploadUrlRequest' })`)
 * becomes `#/components/schemas/UploadUrlRequest` in the document, and every
 * place it is used becomes a `$ref` to it. @fastify/swagger alone only names
 * `$id`s nested inside a schema (a body or response root is always inlined), so
 * this collects the roots while routes are added and rewrites them per route.
 *
 * Only the schema roots of `body` and `response` (plain, or per media type under
 * `content`) are named: parameters are expanded into OpenAPI parameters anyway.
 * An `$id` nested deeper is named by @fastify/swagger's own resolver (see
 * `buildLocalReference` in ./plugin.ts), with the same `$id`-as-name rule.
 */
export type JsonSchema = Record<string, unknown>

export const COMPONENT_SCHEMA_PREFIX = '#/components/schemas/'

/** Component names must be usable as type names by client generators. */
const COMPONENT_NAME = /^[A-Za-z][A-Za-z0-9_]*$/

export class NamedSchemas {
  /** name → schema (a plain-JSON copy: @fastify/swagger annotates what it resolves). */
  readonly schemas: Record<string, JsonSchema> = {}

  /** Records the named schemas of one route; throws on an `$id` reused for a different schema. */
  collect (schema: FastifySchema | undefined, where: string): void {
    for (const root of rootSchemas(schema)) {
      const name = root.$id
      if (typeof name !== 'string') continue
      if (!COMPONENT_NAME.test(name)) {
        throw new Error(`${where}: schema $id "${name}" is not a valid component name (letters, digits, _)`)
      }
      const copy = JSON.parse(JSON.stringify(root)) as JsonSchema
      const known = this.schemas[name]
      if (known === undefined) {
        this.schemas[name] = copy
      } else if (!isDeepStrictEqual(known, copy)) {
        // Fastify's Ajv compiles one validator per $id: a second, different schema
        // with the same $id would silently be validated as the first one.
        throw new Error(`${where}: schema $id "${name}" is already used by a different schema`)
      }
    }
  }

  /** A copy of a route schema whose named roots are `$ref`s to their components. */
  reference (schema: FastifySchema | undefined): FastifySchema | undefined {
    if (schema === undefined) return undefined
    const result: Record<string, unknown> = { ...schema }
    if (isObject(schema.body)) result.body = referenceRoot(schema.body)
    if (isObject(schema.response)) {
      result.response = Object.fromEntries(Object.entries(schema.response).map(([status, response]) =>
        [status, isObject(response) ? referenceRoot(response) : response]))
    }
    return result as FastifySchema
  }
}

function isObject (value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The body and response schemas of a route, looking inside `content` maps. */
function rootSchemas (schema: FastifySchema | undefined): JsonSchema[] {
  if (schema === undefined) return []
  const parts = [schema.body, ...(isObject(schema.response) ? Object.values(schema.response) : [])]
  return parts.filter(isObject).flatMap((part) => isObject(part.content)
    ? Object.values(part.content).filter(isObject).map((media) => media.schema).filter(isObject)
    : [part])
}

/**
 * Replaces a named schema by a `$ref`, keeping its description (@fastify/swagger
 * reads a response's description from the route schema, not from the component).
 */
function referenceRoot (part: JsonSchema): JsonSchema {
  if (isObject(part.content)) {
    const content = Object.fromEntries(Object.entries(part.content).map(([mediaType, media]) =>
      [mediaType, isObject(media) && isObject(media.schema) ? { ...media, schema: referenceOne(media.schema) } : media]))
    return { ...part, content }
  }
  return referenceOne(part)
}

function referenceOne (schema: JsonSchema): JsonSchema {
  if (typeof schema.$id !== 'string') return schema
  const ref: JsonSchema = { $ref: COMPONENT_SCHEMA_PREFIX + schema.$id }
  if (typeof schema.description === 'string') ref.description = schema.description
  return ref
}

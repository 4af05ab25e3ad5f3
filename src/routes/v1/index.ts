import type { FastifyPluginAsync } from 'fastify'
import downloadUrls from './download-urls.js'
import uploadUrls from './upload-urls.js'
import multipartUploads from './multipart-uploads/index.js'
import batch from './batch.js'

/**
 * Everything under /v1 requires a verified bearer token (the equivalent of
 * fastify/demo's autohooks): the hook runs before the body is even parsed.
 */
const v1: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.authenticate)
  await app.register(downloadUrls)
  await app.register(uploadUrls)
  await app.register(multipartUploads)
  await app.register(batch)
}

export default v1

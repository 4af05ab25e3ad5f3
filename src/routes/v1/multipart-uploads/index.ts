import type { FastifyPluginAsync } from 'fastify'
import createMultipartUpload from './create.js'
import partUrls from './part-urls.js'
import listParts from './list-parts.js'
import completeMultipartUpload from './complete.js'
import abortMultipartUpload from './abort.js'
import { createUploadTokens, type UploadTokens } from '../../../uploads/upload-token.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Issues and checks the uploadToken of multipart uploads (src/uploads/upload-token.ts). */
    uploadTokens: UploadTokens
  }
}

/** /v1/multipart-uploads…: large files in parts the browser PUTs straight to storage (issue #3). */
const multipartUploads: FastifyPluginAsync = async (app) => {
  app.decorate('uploadTokens', createUploadTokens(app.config.storage.secretAccessKey))
  await app.register(createMultipartUpload)
  await app.register(partUrls)
  await app.register(listParts)
  await app.register(completeMultipartUpload)
  await app.register(abortMultipartUpload)
}

export default multipartUploads

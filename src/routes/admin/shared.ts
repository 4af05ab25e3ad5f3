/** OpenAPI security of every admin operation. */
export const adminAuth = [{ adminToken: [] }]

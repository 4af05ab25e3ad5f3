import globals from 'globals'
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: [
      'dist/**',
      'node_modules/**',
      '.tap/**',
      '.dev-data/**',
      'test-artifacts/**',
      'bench/results/**',
      'test/openapi/client/generated/**'
    ]
  }),
  {
    rules: {
      // Standard's original rule; neostandard merely tolerates trailing commas, and the code mostly has none.
      '@stylistic/comma-dangle': ['error', 'never'],
      // `void promise` and `return void res.end()` deliberately discard a value (fire-and-forget, early return).
      'no-void': 'off'
    }
  },
  {
    files: ['**/*.ts'],
    rules: {
      // Not in neostandard; the code's few deliberate `any`s already carry eslint-disable comments for it.
      '@typescript-eslint/no-explicit-any': 'error'
    }
  },
  {
    // The media app's page: a plain ES module that runs in the browser.
    files: ['examples/media-app/public/**/*.js'],
    languageOptions: { globals: globals.browser }
  },
  {
    // Permission policies use literal `${sub}` placeholders in ordinary strings.
    files: ['examples/permission-service/policy.ts', 'test/examples/permission-service*.test.ts'],
    rules: { 'no-template-curly-in-string': 'off' }
  }
]

/**
 * Compiles what the servers under test run (src/ and bench/server.ts) to plain JavaScript, file by
 * file, with the project's TypeScript (transpileModule: the emit of `npm run build`, without the
 * type check), so that they run on plain `node` as in production (`node dist/server.js`): no tsx
 * loader thread (≈30 MB of RSS) and no on-the-fly compilation inside the measured process.
 * Output: node_modules/.cache/r2-signer-bench/ (packages still resolve from the project's node_modules).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import ts from 'typescript'

function tsFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return tsFiles(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : []
  })
}

/** Returns the path of the compiled bench/server.js. */
export function buildBenchServer (root: string): string {
  const out = join(root, 'node_modules', '.cache', 'r2-signer-bench')
  rmSync(out, { recursive: true, force: true })
  const compilerOptions: ts.CompilerOptions = {
    module: ts.ModuleKind.ESNext,
    target: ts.ScriptTarget.ES2023,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    sourceMap: false
  }
  for (const file of [...tsFiles(join(root, 'src')), join(root, 'bench', 'server.ts')]) {
    const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions, fileName: file, reportDiagnostics: true })
    if (diagnostics !== undefined && diagnostics.length > 0) {
      throw new Error(`${relative(root, file)}: ${ts.flattenDiagnosticMessageText(diagnostics[0]?.messageText ?? '', '\n')}`)
    }
    const target = join(out, relative(root, file)).replace(/\.ts$/, '.js')
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, outputText)
  }
  // The compiled files are ES modules: say so, as the project's package.json does.
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n')
  return join(out, 'bench', 'server.js')
}

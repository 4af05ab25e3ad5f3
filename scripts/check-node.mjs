// npm's predev and pretest hook: on a Node older than .nvmrc's major, stop with one line saying
// what to do, rather than failing later in some dependency. Plain JavaScript: it must run on any Node.
import { readFileSync } from 'node:fs'

const needed = Number(readFileSync(new URL('../.nvmrc', import.meta.url), 'utf8').trim())
if (Number(process.versions.node.split('.')[0]) < needed) {
  process.stderr.write(`r2-signer needs Node ${needed} and this is Node ${process.version}: run ` +
    `export PATH="$(scripts/use-node.sh):$PATH" (it installs Node ${needed} from the npm registry if needed), then try again\n`)
  process.exit(1)
}

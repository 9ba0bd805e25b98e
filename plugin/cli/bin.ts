#!/usr/bin/env node
// `npx fastify-handoff ...`: the package's bin (package.json "bin").
import { run } from './main.js'

run(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`fastify-handoff: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
